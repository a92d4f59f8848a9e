//! The table and the JSON document `rccr-scan` prints.
use super::names::display;
use super::Host;
use crate::json;

fn json_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => json::push_str(out, s),
        None => out.push_str("null"),
    }
}

fn json_bool(out: &mut String, b: bool) {
    out.push_str(if b { "true" } else { "false" });
}

/// One array, sorted as `hosts` is, one object per line.
pub fn json(hosts: &[Host]) -> String {
    let mut out = String::from("[");
    for (k, host) in hosts.iter().enumerate() {
        out.push_str(if k == 0 { "\n  " } else { ",\n  " });
        out.push_str("{\"ip\": \"");
        out.push_str(&host.ip.to_string());
        out.push_str("\", \"mac\": ");
        let mac = host.mac.map(|m| m.to_text());
        json_opt(
            &mut out,
            mac.as_ref().and_then(|m| core::str::from_utf8(m).ok()),
        );
        out.push_str(", \"hostname\": ");
        json_opt(&mut out, host.hostname.as_deref());
        out.push_str(", \"name_source\": ");
        json_opt(&mut out, host.name_source.map(|s| s.as_str()));
        out.push_str(", \"ssh\": ");
        json_bool(&mut out, host.ssh);
        out.push_str(", \"match\": ");
        json_bool(&mut out, host.matches);
        out.push('}');
    }
    out.push_str(if hosts.is_empty() { "]\n" } else { "\n]\n" });
    out
}

/// The MATCH column.
fn match_text(host: &Host) -> &'static str {
    match (host.matches, host.login) {
        (true, _) => "yes",
        (false, Some(false)) => "no (key refused)",
        (false, _) => "no",
    }
}

/// A table with a header line, columns padded to their widest cell.
pub fn table(hosts: &[Host]) -> String {
    const HEADER: [&str; 6] = ["IP", "MAC", "HOSTNAME", "SOURCE", "SSH", "MATCH"];
    let rows: Vec<[String; 6]> = hosts
        .iter()
        .map(|h| {
            let mac = h.mac.map(|m| m.to_string()).unwrap_or_else(|| "-".into());
            let name = h
                .hostname
                .as_deref()
                .map(|n| display(n).into_owned())
                .unwrap_or_else(|| "-".into());
            let source = h.name_source.map(|s| s.as_str()).unwrap_or("-");
            let ssh = if h.ssh { "yes" } else { "no" };
            [
                h.ip.to_string(),
                mac,
                name,
                source.into(),
                ssh.into(),
                match_text(h).into(),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 6]| {
        for (k, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if k + 1 < cells.len() {
                out.extend(core::iter::repeat(' ').take(widths[k] - cell.len() + 2));
            }
        }
        out.push('\n');
    };
    line(HEADER);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::NameSource;
    use crate::wire::ethernet::Address as MacAddr;

    fn hosts() -> Vec<Host> {
        let mut a = Host::new(
            "10.0.0.5".parse().unwrap(),
            Some(MacAddr([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])),
        );
        a.hostname = Some("ReCyClusteR-Target-3f2a1c".into());
        a.name_source = Some(NameSource::Dns);
        a.ssh = true;
        a.matches = true;
        let b = Host::new("10.0.0.17".parse().unwrap(), None);
        vec![a, b]
    }

    #[test]
    fn json_document() {
        assert_eq!(
            json(&hosts()),
            "[\n  {\"ip\": \"10.0.0.5\", \"mac\": \"aa:bb:cc:dd:ee:ff\", \"hostname\": \"ReCyClusteR-Target-3f2a1c\", \
             \"name_source\": \"dns\", \"ssh\": true, \"match\": true},\n  \
             {\"ip\": \"10.0.0.17\", \"mac\": null, \"hostname\": null, \"name_source\": null, \"ssh\": false, \
             \"match\": false}\n]\n"
        );
        assert_eq!(json(&[]), "[]\n");
    }

    #[test]
    fn table_columns_line_up() {
        let mut hosts = hosts();
        hosts[1].hostname = Some("evil;$(reboot)\x1b".into());
        hosts[1].login = Some(false);
        assert_eq!(
            table(&hosts),
            "\
IP         MAC                HOSTNAME                   SOURCE  SSH  MATCH
10.0.0.5   aa:bb:cc:dd:ee:ff  ReCyClusteR-Target-3f2a1c  dns     yes  yes
10.0.0.17  -                  evil???reboot??            -       no   no (key refused)
"
        );
    }
}
