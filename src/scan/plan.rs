//! Which subnets to sweep, and through which interface.
use super::Options;
use crate::error::Error;
use crate::sys::Interface;
use crate::wire::ethernet::Address as MacAddr;
use crate::wire::ipv4::Cidr;
use std::net::Ipv4Addr;

/// The smallest prefix swept without `--force` (a /16: 65534 addresses).
pub const MAX_UNFORCED_PREFIX: u8 = 16;
/// The smallest prefix swept at all (a /8), whatever `--force` says.
pub const MAX_PREFIX: u8 = 8;

/// How a subnet is swept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// ARP on a directly attached interface, from our address there.
    Arp {
        iface: String,
        index: u32,
        mac: MacAddr,
        src: Ipv4Addr,
    },
    /// ICMP echo through the routing table.
    Icmp,
}

/// One subnet to sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub cidr: Cidr,
    pub via: Via,
    /// Our own addresses inside `cidr`: never asked.
    pub skip: Vec<Ipv4Addr>,
}

/// The interface of the best default route in `/proc/net/route`'s text.
pub fn default_route_iface(routes: &str) -> Option<String> {
    const RTF_UP: u32 = 0x1;
    let mut best: Option<(u32, &str)> = None;
    for line in routes.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        let (Some(dest), Some(flags), Some(metric), Some(mask)) =
            (hex(f[1]), hex(f[3]), f[6].parse::<u32>().ok(), hex(f[7]))
        else {
            continue;
        };
        if dest == 0 && mask == 0 && flags & RTF_UP != 0 && best.is_none_or(|(m, _)| metric < m) {
            best = Some((metric, f[0]));
        }
    }
    best.map(|(_, name)| name.to_string())
}

fn names_of(ifaces: &[Interface]) -> String {
    let names: Vec<&str> = ifaces.iter().map(|i| i.name.as_str()).collect();
    names.join(", ")
}

/// Refuses subnets too large to sweep.
fn check_size(cidr: &Cidr, what: &str, opts: &Options) -> Result<(), Error> {
    if cidr.prefix_len() < MAX_PREFIX {
        return Err(Error::bad_input(
            what,
            format!("{cidr} is larger than a /{MAX_PREFIX}, which is never swept"),
        ));
    }
    if cidr.prefix_len() < MAX_UNFORCED_PREFIX && !opts.force {
        let remedy = match opts.force_flag {
            Some(flag) => format!("sweeping more than a /{MAX_UNFORCED_PREFIX} needs {flag}"),
            None => format!(
                "more than is swept here (a /{MAX_UNFORCED_PREFIX} at most): name smaller subnets with --subnet"
            ),
        };
        return Err(Error::bad_input(
            what,
            format!("{cidr} has {} addresses; {remedy}", cidr.host_count()),
        ));
    }
    Ok(())
}

fn arp_via(iface: &Interface, src: Ipv4Addr) -> Option<Via> {
    let mac = MacAddr(iface.mac?);
    mac.is_unicast().then(|| Via::Arp {
        iface: iface.name.clone(),
        index: iface.index,
        mac,
        src,
    })
}

/// Every local address inside `cidr`.
fn local_addrs_in(cidr: &Cidr, ifaces: &[Interface]) -> Vec<Ipv4Addr> {
    ifaces
        .iter()
        .flat_map(|i| i.addrs.iter().map(|(a, _)| *a))
        .filter(|a| cidr.contains(*a))
        .collect()
}

/// Works out the jobs for `opts` from the interface list and the name of
/// the default route's interface.
pub fn plan(
    opts: &Options,
    ifaces: &[Interface],
    default_iface: Option<&str>,
) -> Result<Vec<Job>, Error> {
    let chosen: Option<&Interface> = match &opts.iface {
        Some(name) => {
            let what = format!("{} {name}", opts.iface_from);
            let iface = ifaces.iter().find(|i| &i.name == name).ok_or_else(|| {
                Error::bad_input(
                    &what,
                    format!("no such interface (there are: {})", names_of(ifaces)),
                )
            })?;
            if !iface.up {
                return Err(Error::bad_input(&what, "the interface is down"));
            }
            if iface.addrs.is_empty() {
                return Err(Error::bad_input(&what, "the interface has no IPv4 address"));
            }
            Some(iface)
        }
        None => None,
    };
    // Up, not loopback, and with an address shorter than /32: a default
    // route through a /32 (WireGuard, PPP) is no LAN, so every interface
    // that is up is swept, as with no default route.
    let usable = |i: &&Interface| i.up && !i.loopback && i.addrs.iter().any(|(_, p)| *p < 32);
    let mut jobs: Vec<Job> = Vec::new();
    if opts.subnets.is_empty() {
        let candidates: Vec<&Interface> = match chosen {
            Some(iface) => vec![iface],
            None => {
                let default = default_iface
                    .and_then(|name| ifaces.iter().find(|i| i.name == name))
                    .filter(usable);
                match default {
                    Some(iface) => vec![iface],
                    None => ifaces.iter().filter(usable).collect(),
                }
            }
        };
        for iface in candidates {
            for &(addr, prefix) in &iface.addrs {
                if prefix >= 32 {
                    continue;
                }
                let cidr = Cidr::new_truncating(addr, prefix);
                let what = format!("interface {} ({addr}/{prefix})", iface.name);
                check_size(&cidr, &what, opts).map_err(|e| match e {
                    // Without a force flag, the message names --subnet already.
                    Error::BadInput { what, msg } if opts.force_flag.is_some() => {
                        Error::bad_input(what, format!("{msg}; pick one with --subnet"))
                    }
                    e => e,
                })?;
                let via = arp_via(iface, addr).unwrap_or(Via::Icmp);
                jobs.push(Job {
                    cidr,
                    via,
                    skip: Vec::new(),
                });
            }
        }
        if let (true, Some(iface)) = (jobs.is_empty(), chosen) {
            // Up, with an address, but a /32 (a tunnel, a point-to-point link).
            return Err(Error::bad_input(
                format!("{} {}", opts.iface_from, iface.name),
                "its IPv4 addresses are /32, which hold no subnet to sweep; name one with --subnet",
            ));
        }
        if jobs.is_empty() {
            return Err(Error::Failed(
                "no subnet to sweep: no interface is up with an IPv4 subnet; name one with --subnet"
                    .into(),
            ));
        }
    } else {
        for cidr in &opts.subnets {
            check_size(cidr, &format!("--subnet {cidr}"), opts)?;
            let pool: Vec<&Interface> = match chosen {
                Some(iface) => vec![iface],
                None => ifaces.iter().filter(usable).collect(),
            };
            let attached = pool.iter().find_map(|iface| {
                iface
                    .addrs
                    .iter()
                    .find(|(a, p)| Cidr::new_truncating(*a, *p).contains_cidr(cidr))
                    .and_then(|(a, _)| arp_via(iface, *a))
            });
            jobs.push(Job {
                cidr: *cidr,
                via: attached.unwrap_or(Via::Icmp),
                skip: Vec::new(),
            });
        }
    }
    // A subnet inside another one is swept as part of it.
    let all: Vec<Cidr> = jobs.iter().map(|j| j.cidr).collect();
    jobs.retain(|j| !all.iter().any(|c| *c != j.cidr && c.contains_cidr(&j.cidr)));
    jobs.sort_by_key(|j| j.cidr);
    jobs.dedup_by_key(|j| j.cidr);
    for job in &mut jobs {
        job.skip = local_addrs_in(&job.cidr, ifaces);
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    static ROUTES: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
";

    fn iface(name: &str, index: u32, addrs: &[(&str, u8)]) -> Interface {
        Interface {
            name: name.into(),
            index,
            mac: Some([0x02, 0, 0, 0, 0, index as u8]),
            up: true,
            loopback: false,
            addrs: addrs
                .iter()
                .map(|(a, p)| (a.parse().unwrap(), *p))
                .collect(),
        }
    }

    fn ifaces() -> Vec<Interface> {
        let mut lo = iface("lo", 1, &[("127.0.0.1", 8)]);
        lo.loopback = true;
        lo.mac = Some([0; 6]);
        vec![
            lo,
            iface("eth0", 2, &[("10.0.0.2", 24)]),
            iface("wlan0", 3, &[("192.168.1.7", 24)]),
            iface("eth1", 4, &[]),
        ]
    }

    fn cidr(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    fn arp(name: &str, index: u32, src: &str) -> Via {
        Via::Arp {
            iface: name.into(),
            index,
            mac: MacAddr([0x02, 0, 0, 0, 0, index as u8]),
            src: src.parse().unwrap(),
        }
    }

    #[test]
    fn default_route_prefers_the_lowest_metric() {
        assert_eq!(default_route_iface(ROUTES).as_deref(), Some("eth0"));
        assert_eq!(default_route_iface("Iface\tDestination\n"), None);
        assert_eq!(default_route_iface(""), None);
        assert_eq!(
            default_route_iface("header\neth0 zz 0 0003 0 0 0 00000000\n"),
            None
        );
    }

    #[test]
    fn no_arguments_sweep_the_default_route_interface() {
        let jobs = plan(&Options::default(), &ifaces(), Some("eth0")).unwrap();
        assert_eq!(
            jobs,
            vec![Job {
                cidr: cidr("10.0.0.0/24"),
                via: arp("eth0", 2, "10.0.0.2"),
                skip: vec!["10.0.0.2".parse().unwrap()],
            }]
        );
    }

    #[test]
    fn without_a_default_route_every_up_interface_is_swept() {
        let jobs = plan(&Options::default(), &ifaces(), None).unwrap();
        let cidrs: Vec<Cidr> = jobs.iter().map(|j| j.cidr).collect();
        assert_eq!(cidrs, vec![cidr("10.0.0.0/24"), cidr("192.168.1.0/24")]);
    }

    #[test]
    fn iface_picks_its_subnets() {
        let opts = Options {
            iface: Some("wlan0".into()),
            ..Options::default()
        };
        let jobs = plan(&opts, &ifaces(), Some("eth0")).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].via, arp("wlan0", 3, "192.168.1.7"));
    }

    #[test]
    fn unknown_down_or_addressless_interfaces_are_named() {
        let opts = Options {
            iface: Some("eth9".into()),
            ..Options::default()
        };
        let err = plan(&opts, &ifaces(), None).unwrap_err();
        crate::error::assert_says(&err, "--iface eth9: no such interface");
        assert!(err.to_string().contains("eth0"), "{err}");
        let opts = Options {
            iface: Some("eth1".into()),
            ..Options::default()
        };
        let err = plan(&opts, &ifaces(), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--iface eth1: the interface has no IPv4 address"
        );
        let mut list = ifaces();
        list[2].up = false;
        let opts = Options {
            iface: Some("wlan0".into()),
            ..Options::default()
        };
        let err = plan(&opts, &list, None).unwrap_err();
        assert_eq!(err.to_string(), "--iface wlan0: the interface is down");
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
        // Up with an address, but only a /32: named, not "no interface is up".
        let list = vec![iface("wg0", 5, &[("10.9.9.9", 32)])];
        let opts = Options {
            iface: Some("wg0".into()),
            ..Options::default()
        };
        let err = plan(&opts, &list, None).unwrap_err();
        crate::error::assert_says(&err, "--iface wg0: its IPv4 addresses are /32");
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
        // The default route through it: the LAN beside it is swept.
        let list = vec![list[0].clone(), iface("eth0", 2, &[("192.168.1.5", 24)])];
        let jobs = plan(&Options::default(), &list, Some("wg0")).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].cidr, cidr("192.168.1.0/24"));
    }

    #[test]
    fn subnets_are_swept_by_arp_when_attached_else_icmp() {
        let opts = Options {
            subnets: vec![cidr("10.0.0.128/25"), cidr("172.16.0.0/24")],
            ..Options::default()
        };
        let jobs = plan(&opts, &ifaces(), Some("eth0")).unwrap();
        assert_eq!(jobs[0].cidr, cidr("10.0.0.128/25"));
        assert_eq!(jobs[0].via, arp("eth0", 2, "10.0.0.2"));
        assert!(jobs[0].skip.is_empty());
        assert_eq!(jobs[1].via, Via::Icmp);
    }

    #[test]
    fn nested_and_repeated_subnets_are_swept_once() {
        let opts = Options {
            subnets: vec![
                cidr("10.0.0.0/24"),
                cidr("10.0.0.64/26"),
                cidr("10.0.0.0/24"),
            ],
            ..Options::default()
        };
        let jobs = plan(&opts, &ifaces(), None).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].cidr, cidr("10.0.0.0/24"));
    }

    #[test]
    fn more_than_a_slash_16_needs_force() {
        let opts = Options {
            subnets: vec![cidr("10.0.0.0/15")],
            ..Options::default()
        };
        let err = plan(&opts, &ifaces(), None).unwrap_err();
        crate::error::assert_says(&err, "--subnet 10.0.0.0/15: ");
        assert!(err.to_string().contains("--force"), "{err}");
        let opts = Options {
            force: true,
            ..opts
        };
        assert_eq!(plan(&opts, &ifaces(), None).unwrap().len(), 1);
        let opts = Options {
            subnets: vec![cidr("10.0.0.0/16")],
            ..Options::default()
        };
        assert!(plan(&opts, &ifaces(), None).is_ok());
        let opts = Options {
            subnets: vec![cidr("0.0.0.0/0")],
            force: true,
            ..Options::default()
        };
        assert!(plan(&opts, &ifaces(), None)
            .unwrap_err()
            .to_string()
            .contains("never swept"));
    }

    #[test]
    fn a_huge_attached_network_asks_for_a_subnet() {
        let list = vec![iface("eth0", 2, &[("10.1.2.3", 8)])];
        let err = plan(&Options::default(), &list, Some("eth0")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "interface eth0 (10.1.2.3/8): 10.0.0.0/8 has 16777214 addresses; \
             sweeping more than a /16 needs --force; pick one with --subnet"
        );
    }

    #[test]
    fn nothing_to_sweep_is_an_error() {
        let list = vec![ifaces().remove(0)];
        assert!(plan(&Options::default(), &list, None).is_err());
    }
}
