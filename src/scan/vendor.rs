//! Who made a network card, from the first three bytes of its MAC address
//! (the IEEE's organisationally unique identifier): the first thing an
//! operator looks for among a pile of Raspberry Pis and old PCs. A small
//! built-in table: the Raspberry Pi OUIs, the usual PC network chips and
//! virtual machines. A locally administered address (bit 1 of the first
//! byte: virtual interfaces, containers, the test lab) has no maker.
use crate::identity::Mac;

/// OUI, maker.
const OUIS: &[([u8; 3], &str)] = &[
    ([0xb8, 0x27, 0xeb], "Raspberry Pi"),
    ([0xdc, 0xa6, 0x32], "Raspberry Pi"),
    ([0xe4, 0x5f, 0x01], "Raspberry Pi"),
    ([0x28, 0xcd, 0xc1], "Raspberry Pi"),
    ([0xd8, 0x3a, 0xdd], "Raspberry Pi"),
    ([0x2c, 0xcf, 0x67], "Raspberry Pi"),
    ([0x88, 0xa2, 0x9e], "Raspberry Pi"),
    ([0x00, 0xe0, 0x4c], "Realtek"),
    ([0x00, 0x1b, 0x21], "Intel"),
    ([0x00, 0x15, 0x17], "Intel"),
    ([0x00, 0x1e, 0x67], "Intel"),
    ([0xa0, 0x36, 0x9f], "Intel"),
    ([0x68, 0x05, 0xca], "Intel"),
    ([0x00, 0x10, 0x18], "Broadcom"),
    ([0x00, 0x0a, 0xf7], "Broadcom"),
    ([0x00, 0x03, 0x7f], "Atheros"),
    ([0x52, 0x54, 0x00], "QEMU"),
    ([0x08, 0x00, 0x27], "VirtualBox"),
    ([0x00, 0x0c, 0x29], "VMware"),
    ([0x00, 0x50, 0x56], "VMware"),
    ([0x00, 0x16, 0x3e], "Xen"),
    ([0x00, 0x15, 0x5d], "Hyper-V"),
];

/// The maker of `mac`'s card: a name, `(local)` for a locally
/// administered address, `None` when the table does not know it.
pub fn vendor(mac: Mac) -> Option<&'static str> {
    let oui = [mac.0[0], mac.0[1], mac.0[2]];
    if let Some((_, name)) = OUIS.iter().find(|(o, _)| *o == oui) {
        return Some(name);
    }
    (mac.0[0] & 0x02 != 0).then_some("(local)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(text: &str) -> Option<&'static str> {
        vendor(text.parse().unwrap())
    }

    #[test]
    fn makers_by_oui() {
        assert_eq!(of("b8:27:eb:12:34:56"), Some("Raspberry Pi"));
        assert_eq!(of("DC:A6:32:00:00:01"), Some("Raspberry Pi"));
        assert_eq!(of("00:e0:4c:68:00:01"), Some("Realtek"));
        assert_eq!(of("52:54:00:12:34:56"), Some("QEMU"));
        // The test lab's addresses are locally administered.
        assert_eq!(of("02:52:43:4c:00:02"), Some("(local)"));
        assert_eq!(of("00:00:5e:00:53:01"), None);
    }

    #[test]
    fn the_table_has_each_oui_once() {
        for (i, (a, _)) in OUIS.iter().enumerate() {
            assert!(OUIS[i + 1..].iter().all(|(b, _)| a != b), "{a:02x?}");
            assert_eq!(a[0] & 0x01, 0, "{a:02x?}: a unicast OUI");
        }
    }
}
