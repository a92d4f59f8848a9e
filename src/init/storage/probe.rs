//! What a device holds, from its first bytes: an ext2/3/4 or FAT
//! filesystem and its label, or nothing at all.
//!
//! Two views in smoltcp's style: the ext superblock (1024 bytes at byte
//! 1024 of the filesystem) and the FAT boot sector. rccr reads labels itself
//! rather than parse `blkid` output, which busybox and util-linux print
//! differently.
use crate::wire::bytes::le_u16;
use crate::wire::{check_min_len, view};
use crate::wire::{Error, Field, Result};

/// The label that marks RCCR's data filesystem.
pub const RCCR_LABEL: &str = "RCCR";
/// Where the ext superblock starts.
pub const EXT_SUPERBLOCK_AT: usize = 1024;
/// How many bytes of a device the probes read.
pub const PROBE_LEN: usize = EXT_SUPERBLOCK_AT + ext::SUPERBLOCK_LEN;

/// A filesystem found at the start of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filesystem {
    /// ext2, ext3 or ext4 (one Linux driver mounts all three).
    Ext { label: String, uuid: [u8; 16] },
    /// FAT12/16/32: lbu can keep `/etc` there, Docker's data cannot live there.
    Fat { label: String },
}

impl Filesystem {
    pub fn label(&self) -> &str {
        match self {
            Filesystem::Ext { label, .. } | Filesystem::Fat { label } => label,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Filesystem::Ext { .. } => "ext4",
            Filesystem::Fat { .. } => "vfat",
        }
    }
}

/// The filesystem in `head`, the first [`PROBE_LEN`] bytes of a device.
pub fn filesystem(head: &[u8]) -> Option<Filesystem> {
    if let Ok(sb) = head
        .get(EXT_SUPERBLOCK_AT..)
        .ok_or(Error)
        .and_then(ext::Superblock::new_checked)
    {
        if let Ok(repr) = ext::Repr::parse(&sb) {
            return Some(Filesystem::Ext {
                label: repr.label,
                uuid: repr.uuid,
            });
        }
    }
    let bs = fat::BootSector::new_checked(head).ok()?;
    let repr = fat::Repr::parse(&bs).ok()?;
    Some(Filesystem::Fat { label: repr.label })
}

/// A label field: bytes up to the first NUL, trailing spaces dropped (FAT
/// pads with spaces), shown lossily.
fn label_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end])
        .trim_end()
        .to_string()
}

/// Whether every byte is zero: the test for "nothing written here".
pub fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == 0)
}

pub mod ext {
    use super::*;

    /// The superblock's length.
    pub const SUPERBLOCK_LEN: usize = 1024;
    pub const MAGIC: u16 = 0xef53;

    mod field {
        use super::Field;
        pub const MAGIC: Field = 56..58;
        pub const UUID: Field = 104..120;
        pub const VOLUME_NAME: Field = 120..136;
    }

    view!(
        /// A read view of an ext superblock.
        Superblock
    );

    impl<T: AsRef<[u8]>> Superblock<T> {
        /// Refuses a buffer too short for the fields read here.
        pub fn check_len(&self) -> Result<()> {
            check_min_len(self.buffer.as_ref(), field::VOLUME_NAME.end)
        }

        pub fn magic(&self) -> u16 {
            le_u16(self.buffer.as_ref(), field::MAGIC)
        }

        pub fn uuid(&self) -> [u8; 16] {
            let mut out = [0; 16];
            out.copy_from_slice(&self.buffer.as_ref()[field::UUID]);
            out
        }

        pub fn volume_name(&self) -> &[u8] {
            &self.buffer.as_ref()[field::VOLUME_NAME]
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Repr {
        pub label: String,
        pub uuid: [u8; 16],
    }

    impl Repr {
        pub fn parse<T: AsRef<[u8]>>(sb: &Superblock<T>) -> Result<Repr> {
            if sb.magic() != MAGIC {
                return Err(Error);
            }
            Ok(Repr {
                label: label_text(sb.volume_name()),
                uuid: sb.uuid(),
            })
        }
    }
}

pub mod fat {
    use super::*;

    pub const SECTOR_LEN: usize = 512;

    mod field {
        use super::Field;
        pub const BYTES_PER_SECTOR: Field = 11..13;
        pub const FAT_SIZE_16: Field = 22..24;
        // The extended BPB: at 36 on FAT12/16, at 64 on FAT32.
        pub const BOOT_SIG_16: usize = 38;
        pub const LABEL_16: Field = 43..54;
        pub const TYPE_16: Field = 54..62;
        pub const BOOT_SIG_32: usize = 66;
        pub const LABEL_32: Field = 71..82;
        pub const TYPE_32: Field = 82..90;
        pub const SIGNATURE: Field = 510..512;
    }

    /// The extended boot signature that says a label follows.
    const EXTENDED_BOOT_SIG: u8 = 0x29;

    view!(
        /// A read view of a FAT boot sector.
        BootSector
    );

    impl<T: AsRef<[u8]>> BootSector<T> {
        /// Refuses a buffer shorter than a sector.
        pub fn check_len(&self) -> Result<()> {
            check_min_len(self.buffer.as_ref(), SECTOR_LEN)
        }

        pub fn bytes_per_sector(&self) -> u16 {
            le_u16(self.buffer.as_ref(), field::BYTES_PER_SECTOR)
        }

        /// Zero on FAT32, whose FAT size field is elsewhere.
        pub fn fat_size_16(&self) -> u16 {
            le_u16(self.buffer.as_ref(), field::FAT_SIZE_16)
        }

        pub fn signature(&self) -> u16 {
            le_u16(self.buffer.as_ref(), field::SIGNATURE)
        }

        /// The extended BPB's (boot signature, label, type) for this FAT.
        fn extended(&self) -> (u8, &[u8], &[u8]) {
            let b = self.buffer.as_ref();
            if self.fat_size_16() == 0 {
                (
                    b[field::BOOT_SIG_32],
                    &b[field::LABEL_32],
                    &b[field::TYPE_32],
                )
            } else {
                (
                    b[field::BOOT_SIG_16],
                    &b[field::LABEL_16],
                    &b[field::TYPE_16],
                )
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Repr {
        pub label: String,
    }

    impl Repr {
        /// A FAT boot sector: 0x55AA, a power-of-two sector size, and an
        /// extended BPB whose type field starts "FAT".
        pub fn parse<T: AsRef<[u8]>>(bs: &BootSector<T>) -> Result<Repr> {
            let size = bs.bytes_per_sector();
            if bs.signature() != 0xaa55 || !(512..=4096).contains(&size) || !size.is_power_of_two()
            {
                return Err(Error);
            }
            let (sig, label, kind) = bs.extended();
            if sig != EXTENDED_BOOT_SIG || !kind.starts_with(b"FAT") {
                return Err(Error);
            }
            let label = label_text(label);
            // mkfs.vfat writes "NO NAME" for no label.
            let label = if label == "NO NAME" {
                String::new()
            } else {
                label
            };
            Ok(Repr { label })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The superblock fields of `mkfs.ext4 -L RCCR -U 0102...10` that the
    /// probe reads; the rest of the 2 KiB is 0xa5, which must not matter.
    fn ext_head(label: &[u8]) -> Vec<u8> {
        let mut head = vec![0xa5u8; PROBE_LEN];
        let sb = &mut head[EXT_SUPERBLOCK_AT..];
        sb[56..58].copy_from_slice(&[0x53, 0xef]);
        for (i, b) in sb[104..120].iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        sb[120..136].fill(0);
        sb[120..120 + label.len()].copy_from_slice(label);
        head
    }

    /// The boot sector of `mkfs.vfat -F 32 -n RCCR` (fields the probe reads).
    fn fat32_head(label: &[u8; 11]) -> Vec<u8> {
        let mut head = vec![0u8; PROBE_LEN];
        head[11..13].copy_from_slice(&512u16.to_le_bytes());
        head[66] = 0x29;
        head[71..82].copy_from_slice(label);
        head[82..90].copy_from_slice(b"FAT32   ");
        head[510..512].copy_from_slice(&[0x55, 0xaa]);
        head
    }

    #[test]
    fn ext_label_and_uuid() {
        let head = ext_head(b"RCCR");
        let sb = ext::Superblock::new_checked(&head[EXT_SUPERBLOCK_AT..]).unwrap();
        assert_eq!(sb.magic(), ext::MAGIC);
        assert_eq!(sb.volume_name(), b"RCCR\0\0\0\0\0\0\0\0\0\0\0\0");
        let uuid: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
        assert_eq!(
            filesystem(&head),
            Some(Filesystem::Ext {
                label: "RCCR".into(),
                uuid
            })
        );
        // A 16-byte label has no NUL.
        let full = ext_head(b"0123456789abcdef");
        assert_eq!(filesystem(&full).unwrap().label(), "0123456789abcdef");
    }

    #[test]
    fn fat_labels_on_fat32_and_fat16() {
        let head = fat32_head(b"RCCR       ");
        assert_eq!(
            filesystem(&head),
            Some(Filesystem::Fat {
                label: "RCCR".into()
            })
        );
        assert_eq!(filesystem(&fat32_head(b"NO NAME    ")).unwrap().label(), "");
        // FAT16: the FAT size field is set and the extended BPB sits at 36.
        let mut fat16 = vec![0u8; PROBE_LEN];
        fat16[11..13].copy_from_slice(&512u16.to_le_bytes());
        fat16[22..24].copy_from_slice(&32u16.to_le_bytes());
        fat16[38] = 0x29;
        fat16[43..54].copy_from_slice(b"BOOT       ");
        fat16[54..62].copy_from_slice(b"FAT16   ");
        fat16[510..512].copy_from_slice(&[0x55, 0xaa]);
        assert_eq!(filesystem(&fat16).unwrap().label(), "BOOT");
    }

    #[test]
    fn an_mbr_or_zeros_or_a_short_read_is_no_filesystem() {
        assert_eq!(filesystem(&vec![0u8; PROBE_LEN]), None);
        let mut mbr = vec![0u8; PROBE_LEN];
        mbr[510..512].copy_from_slice(&[0x55, 0xaa]);
        mbr[446 + 4] = 0x0c;
        assert_eq!(filesystem(&mbr), None);
        let head = ext_head(b"RCCR");
        for len in [0, 512, EXT_SUPERBLOCK_AT + 100] {
            assert_eq!(filesystem(&head[..len]), None, "{len}");
        }
        let mut wrong_magic = ext_head(b"RCCR");
        wrong_magic[EXT_SUPERBLOCK_AT + 56] = 0x54;
        assert_eq!(filesystem(&wrong_magic), None);
    }

    #[test]
    fn zeros() {
        assert!(is_zero(&[]));
        assert!(is_zero(&[0; 4096]));
        let mut one = [0u8; 4096];
        one[4095] = 1;
        assert!(!is_zero(&one));
    }
}
