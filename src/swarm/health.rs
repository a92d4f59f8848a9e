//! A node's health, as `rccr status` shows it: what usually fails on a
//! recycled machine (heat, throttling, a full SD card, low memory). Read
//! by the same command as the Docker probe, with shell builtins and one
//! `df`, so that asking 200 nodes stays cheap.
use crate::init::bootstatus::{self, BootStatus, Storage, World};
use crate::print;

/// The shell part of the status probe: one `rccr-health` line.
pub const PROBE: &str = r#"up=; load=; mt=; ma=; temp=; thr=
read -r up _ </proc/uptime 2>/dev/null
read -r load _ _ _ _ </proc/loadavg 2>/dev/null
while read -r k v _; do case $k in MemTotal:) mt=$v ;; MemAvailable:) ma=$v ;; esac; done </proc/meminfo 2>/dev/null
for f in /sys/class/thermal/thermal_zone*/temp; do [ -r "$f" ] && read -r t <"$f" && { [ -z "$temp" ] || [ "$t" -gt "$temp" ]; } 2>/dev/null && temp=$t; done
if command -v vcgencmd >/dev/null 2>&1; then thr=$(vcgencmd get_throttled 2>/dev/null); thr=${thr#*=}; fi
use=$(df -P / /var/lib/docker 2>/dev/null | { read -r _; d=; r=; s=; while read -r fs _ _ _ p _; do if [ -z "$r" ]; then d=$fs; r=$p; elif [ "$fs" != "$d" ]; then s=$p; fi; done; echo "$r|$s"; })
echo "rccr-health $up|$load|$mt|$ma|$temp|$thr|$use"
while read -r l; do echo "rccr-boot $l"; done </run/rccr/status 2>/dev/null
"#;

/// Memory or storage this full is worth a warning.
pub const FULL_PERCENT: u8 = 90;
/// This hot, in °C, is worth a warning (the Pi firmware caps at 80–85).
pub const HOT_CELSIUS: u32 = 80;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Health {
    /// What rccr-init found at boot: persistent storage, packages.
    pub boot: BootStatus,
    pub uptime_s: Option<u64>,
    pub mem_total_kib: Option<u64>,
    pub mem_available_kib: Option<u64>,
    /// The 1-minute load average, in hundredths.
    pub load1: Option<print::Centi>,
    pub temp_millic: Option<u32>,
    /// The Raspberry Pi firmware's throttling flags (`vcgencmd get_throttled`).
    pub throttled: Option<u32>,
    pub root_used_pct: Option<u8>,
    /// Where Docker keeps its data, when it is another file system than `/`.
    pub storage_used_pct: Option<u8>,
}

impl Health {
    /// The first `rccr-health` line of a probe's output and the
    /// `rccr-boot` lines right after it, as [`PROBE`] prints them; `None`
    /// without one. (Later lines are other probes': a manager's node list
    /// carries other nodes' words.)
    pub fn parse(text: &str) -> Option<Health> {
        let mut lines = text.lines();
        let line = lines.find_map(|l| l.trim().strip_prefix("rccr-health "))?;
        let boot: Vec<&str> = lines.map_while(|l| l.strip_prefix("rccr-boot ")).collect();
        let f: Vec<&str> = line.split('|').collect();
        let field = |i: usize| f.get(i).copied().unwrap_or("").trim();
        let percent = |s: &str| s.strip_suffix('%')?.parse().ok().filter(|p| *p <= 100);
        Some(Health {
            uptime_s: field(0).split('.').next().and_then(|s| s.parse().ok()),
            load1: print::Centi::parse(field(1)),
            mem_total_kib: field(2).parse().ok(),
            mem_available_kib: field(3).parse().ok(),
            temp_millic: field(4).parse().ok().filter(|t| *t < 200_000),
            throttled: field(5)
                .strip_prefix("0x")
                .and_then(|h| u32::from_str_radix(h, 16).ok()),
            root_used_pct: percent(field(6)),
            storage_used_pct: percent(field(7)),
            boot: bootstatus::parse(&boot.join("\n")),
        })
    }

    /// Memory in use, percent (in u128: the figures are the node's word,
    /// and a hundred times a u64 overflows it).
    pub fn mem_used_pct(&self) -> Option<u8> {
        let (total, avail) = (self.mem_total_kib?, self.mem_available_kib?);
        (total > 0 && avail <= total)
            .then(|| (u128::from(total - avail) * 100 / u128::from(total)) as u8)
    }

    /// What an operator should look at, one phrase each.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(t) = self.temp_millic.filter(|t| t / 1000 >= HOT_CELSIUS) {
            w.push(format!("hot: {} °C", t / 1000));
        }
        // Bits 0-3: under-voltage, frequency capped, throttled, soft
        // temperature limit, now (bits 16-19: since boot).
        if let Some(flags) = self.throttled.filter(|f| f & 0xf != 0) {
            w.push(format!("throttled now (firmware flags 0x{flags:x})"));
        }
        if let Some(p) = self.mem_used_pct().filter(|p| *p > FULL_PERCENT) {
            w.push(format!("memory {p}% used"));
        }
        if matches!(self.boot.storage, Storage::None { .. }) {
            w.push("storage: none (volatile): Docker's data is lost at reboot".into());
        }
        if let World::Missing { .. } = &self.boot.world {
            w.push(format!(
                "packages not installed at boot: {}",
                self.boot.world
            ));
        }
        for (what, used) in [
            ("root", self.root_used_pct),
            ("storage", self.storage_used_pct),
        ] {
            if let Some(p) = used.filter(|p| *p > FULL_PERCENT) {
                w.push(format!("{what} file system {p}% full"));
            }
        }
        w
    }

    /// The table's cells: uptime, load, memory, root, storage, temperature.
    pub fn cells(&self) -> [String; 6] {
        let storage = match (&self.boot.storage, self.storage_used_pct) {
            (Storage::Unknown, used) => used.map(|p| format!("{p}%")),
            (Storage::None { .. }, _) => Some("none (volatile)".into()),
            (s, Some(p)) => Some(format!("{p}% of {}", print::text(&s.to_string()))),
            (s, None) => Some(print::text(&s.to_string()).into_owned()),
        };
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        [
            or_dash(self.uptime_s.map(uptime)),
            or_dash(self.load1.map(|l| l.to_string())),
            or_dash(
                self.mem_used_pct()
                    .map(|p| format!("{p}% of {} MiB", self.mem_total_kib.unwrap_or(0) / 1024)),
            ),
            or_dash(self.root_used_pct.map(|p| format!("{p}%"))),
            or_dash(storage),
            or_dash(self.temp_millic.map(|t| format!("{} °C", t / 1000))),
        ]
    }

    /// Its fields of `rccr status --json`.
    pub fn json(&self, o: print::Object) -> print::Object {
        let num = |o: print::Object, k: &str, v: Option<u64>| match v {
            Some(v) => o.num(k, v),
            None => o.raw(k, "null"),
        };
        let o = num(o, "uptime_s", self.uptime_s);
        let o = match self.load1 {
            Some(l) => o.raw("load1", &l.to_string()),
            None => o.raw("load1", "null"),
        };
        let o = num(o, "mem_total_kib", self.mem_total_kib);
        let o = num(o, "mem_used_pct", self.mem_used_pct().map(u64::from));
        let o = num(o, "root_used_pct", self.root_used_pct.map(u64::from));
        let o = num(o, "storage_used_pct", self.storage_used_pct.map(u64::from));
        let o = num(o, "temp_c", self.temp_millic.map(|t| u64::from(t / 1000)));
        let o = num(o, "throttled", self.throttled.map(u64::from));
        let o = o
            .str("storage", &self.boot.storage.to_string())
            .str("world", &self.boot.world.to_string());
        o.raw("warnings", &print::string_array(&self.warnings()))
    }
}

/// `3d 4h`, `5h 12m`, `7m`.
fn uptime(s: u64) -> String {
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_and_an_unwell_node() {
        let h = Health::parse("x\nrccr-health 93784.12|0.42|1000000|600000|48312||35%|\n").unwrap();
        assert_eq!(h.uptime_s, Some(93784));
        assert_eq!(h.mem_used_pct(), Some(40));
        assert_eq!(h.cells()[0], "1d 2h");
        assert_eq!(h.cells()[1], "0.42");
        assert_eq!(h.cells()[2], "40% of 976 MiB");
        assert!(h.warnings().is_empty(), "{:?}", h.warnings());
        let sick =
            Health::parse("rccr-health 60|3.1|1000000|50000|81234|0x50005|95%|97%\n").unwrap();
        assert_eq!(sick.cells()[1], "3.10");
        assert_eq!(
            sick.warnings(),
            [
                "hot: 81 °C",
                "throttled now (firmware flags 0x50005)",
                "memory 95% used",
                "root file system 95% full",
                "storage file system 97% full"
            ]
        );
        // Flags set only "since boot" are no warning now.
        let past = Health::parse("rccr-health 60|0|||||10%|\n").unwrap();
        assert!(past.warnings().is_empty());
        let past = Health {
            throttled: Some(0x50000),
            ..past
        };
        assert!(past.warnings().is_empty());
    }

    #[test]
    fn lies_are_dropped_not_trusted() {
        let h = Health::parse(
            "rccr-health NaN|-1|x|y|999999999|0xZZ|120%|50\nrccr-boot storage: ../x\n",
        )
        .unwrap();
        assert_eq!(h, Health::default());
        assert_eq!(Health::parse("nothing\n"), None);
        assert_eq!(h.cells()[0], "-");
    }

    #[test]
    fn a_node_with_more_memory_than_a_u64_holds_percent_of_is_no_crash() {
        let h = Health::parse(&format!("rccr-health 60|0|{}|0||||\n", u64::MAX)).unwrap();
        assert_eq!(h.mem_used_pct(), Some(100));
        assert_eq!(h.warnings(), ["memory 100% used"]);
    }

    #[test]
    fn the_boot_status_tells_storage_and_packages() {
        let h = Health::parse(
            "rccr-health 60|0|||||10%|\nrccr-boot storage: none: no RCCR filesystem\nrccr-boot world: missing ansible\n",
        )
        .unwrap();
        assert_eq!(h.cells()[4], "none (volatile)");
        assert_eq!(
            h.warnings(),
            [
                "storage: none (volatile): Docker's data is lost at reboot",
                "packages not installed at boot: missing ansible"
            ]
        );
        let h =
            Health::parse("rccr-health 60|0|||||10%|40%\nrccr-boot storage: /dev/sda1\n").unwrap();
        assert_eq!(h.cells()[4], "40% of /dev/sda1");
        assert!(h.warnings().is_empty());
    }

    #[test]
    fn only_the_boot_lines_right_after_the_health_line_are_read() {
        // Later lines are other probes' (a manager's node list, where a
        // worker's name may start a line): they tell nothing of this node.
        let h = Health::parse(
            "x\nrccr-boot storage: none: early\nrccr-health 60|0|||||10%|40%\n\
             rccr-boot storage: /dev/sda1\nrccr-docker up|24.0|active|true||\n\
             rccr-boot storage: none: forged\nrccr-boot world: missing x\n\
             rccr-health 1|9|||||99%|99%\n",
        )
        .unwrap();
        assert_eq!(h.cells()[4], "40% of /dev/sda1");
        assert_eq!(h.uptime_s, Some(60));
        assert!(h.warnings().is_empty(), "{:?}", h.warnings());
    }

    #[test]
    fn the_probe_runs_in_sh_here() {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(PROBE)
            .output()
            .unwrap();
        let h = Health::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert!(h.uptime_s.is_some() && h.mem_total_kib.is_some(), "{h:?}");
        assert!(h.root_used_pct.is_some(), "{h:?}");
    }
}
