//! The table and the JSON document `rccr-scan` prints.
use super::vendor::vendor;
use super::Host;
use crate::print;

/// One array, sorted as `hosts` is, one object per line.
pub fn json(hosts: &[Host]) -> String {
    let objects: Vec<print::Object> = hosts
        .iter()
        .map(|host| {
            print::Object::new()
                .str("ip", &host.ip.to_string())
                .opt("mac", host.mac.map(|m| m.to_string()).as_deref())
                .opt("vendor", host.mac.and_then(vendor))
                .opt("hostname", host.hostname.as_deref())
                .opt("name_source", host.name_source.map(|s| s.as_str()))
                .bool("ssh", host.ssh)
                .bool("match", host.matches)
        })
        .collect();
    print::array(&objects)
}

/// The line a scan ends with on stderr, as nmap and arp-scan end theirs:
/// `12 hosts up, 5 ours, 2 unnamed with SSH, in 412 ms`.
pub fn summary(report: &super::Report) -> String {
    let hosts = &report.hosts;
    let ours = hosts.iter().filter(|h| h.matches).count();
    let unnamed = hosts
        .iter()
        .filter(|h| h.hostname.is_none() && h.ssh)
        .count();
    format!(
        "{} host{} up, {ours} ours, {unnamed} unnamed with SSH, in {} ms",
        hosts.len(),
        if hosts.len() == 1 { "" } else { "s" },
        report.elapsed.as_millis()
    )
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
    let mut table =
        print::Table::new(&["IP", "MAC", "VENDOR", "HOSTNAME", "SOURCE", "SSH", "MATCH"]);
    for h in hosts {
        table.row([
            h.ip.to_string(),
            h.mac.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
            h.mac.and_then(vendor).unwrap_or("-").into(),
            h.hostname
                .as_deref()
                .map(|n| print::name(n).into_owned())
                .unwrap_or_else(|| "-".into()),
            h.name_source.map(|s| s.as_str()).unwrap_or("-").into(),
            (if h.ssh { "yes" } else { "no" }).into(),
            match_text(h).into(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::NameSource;
    use crate::wire::ethernet::Address as MacAddr;

    fn hosts() -> Vec<Host> {
        let mut a = Host::new(
            "10.0.0.5".parse().unwrap(),
            Some(MacAddr([0xb8, 0x27, 0xeb, 0xdd, 0xee, 0xff])),
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
            "[\n  {\"ip\": \"10.0.0.5\", \"mac\": \"b8:27:eb:dd:ee:ff\", \"vendor\": \"Raspberry Pi\", \
             \"hostname\": \"ReCyClusteR-Target-3f2a1c\", \"name_source\": \"dns\", \"ssh\": true, \"match\": true},\n  \
             {\"ip\": \"10.0.0.17\", \"mac\": null, \"vendor\": null, \"hostname\": null, \"name_source\": null, \
             \"ssh\": false, \"match\": false}\n]\n"
        );
        assert_eq!(json(&[]), "[]\n");
    }

    #[test]
    fn the_summary_counts_what_an_operator_asks_first() {
        let mut hosts = hosts();
        hosts[1].ssh = true;
        let report = crate::scan::Report {
            hosts,
            warnings: vec![],
            elapsed: std::time::Duration::from_millis(412),
        };
        assert_eq!(
            summary(&report),
            "2 hosts up, 1 ours, 1 unnamed with SSH, in 412 ms"
        );
    }

    #[test]
    fn table_columns_line_up() {
        let mut hosts = hosts();
        hosts[1].hostname = Some("evil;$(reboot)\x1b".into());
        hosts[1].login = Some(false);
        assert_eq!(
            table(&hosts),
            "\
IP         MAC                VENDOR        HOSTNAME                   SOURCE  SSH  MATCH
10.0.0.5   b8:27:eb:dd:ee:ff  Raspberry Pi  ReCyClusteR-Target-3f2a1c  dns     yes  yes
10.0.0.17  -                  -             evil???reboot??            -       no   no (key refused)
"
        );
    }
}
