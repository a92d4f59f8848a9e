//! The MBR (DOS) partition table in sector 0, smoltcp style: a `Packet`
//! view with named field offsets, and a `Repr` of what rccr needs from it.
//!
//! Only what a disk's first sector says is read here: the disk identifier,
//! four primary entries and the 0x55AA signature. Entries are in logical
//! blocks (512 bytes on SD cards and most disks, 4096 on 4Kn disks).
//! `Repr::emit` writes a new table (bytes 440..444 and 446..512), keeping
//! the boot code (0..440); `Packet::set_entry` adds one entry to an
//! existing table and writes nothing else, so an image's own entries keep
//! every byte.
use crate::wire::bytes::{le_u32, set_le_u32};
use crate::wire::{check_min_len, view};
use crate::wire::{Error, Field, Result};

/// The length of the sector the table lives in.
pub const SECTOR_LEN: usize = 512;
/// The number of primary entries.
pub const ENTRIES: usize = 4;
/// Partition type "Linux" (what `sfdisk` writes for `type=83`).
pub const TYPE_LINUX: u8 = 0x83;
/// The type of the partition rccr adds after a boot partition, until its
/// filesystem is made (then [`TYPE_LINUX`]): 0x7f, set aside "for
/// individual or local use and temporary or experimental projects"
/// (the Alt-OS-Dev partition standard), so no one's data partition. Like
/// [`PREPARING_DISK_ID`], it makes the partition rccr's whatever it holds.
pub const TYPE_PREPARING: u8 = 0x7f;
/// The protective entry of a GPT disk.
pub const TYPE_GPT_PROTECTIVE: u8 = 0xee;
/// The identifier rccr gives a disk it partitions itself ("RCCR" in the
/// four bytes at 440), so an unfinished preparation is recognised as ours.
pub const RCCR_DISK_ID: u32 = u32::from_le_bytes(*b"RCCR");
/// The identifier of a disk rccr has partitioned and not yet formatted
/// ("RCCP"): its partition is rccr's whatever it holds, an `mkfs` cut
/// short included (mke2fs writes its primary superblock last, after
/// hundreds of KiB elsewhere). Becomes [`RCCR_DISK_ID`] once the RCCR
/// filesystem is there.
pub const PREPARING_DISK_ID: u32 = u32::from_le_bytes(*b"RCCP");
/// The largest sector count an entry holds.
pub const MAX_SECTORS: u64 = u32::MAX as u64;

mod field {
    use super::Field;
    pub const DISK_ID: Field = 440..444;
    pub const ENTRY_0: usize = 446;
    pub const ENTRY_LEN: usize = 16;
    pub const SIGNATURE: Field = 510..512;

    // Inside an entry.
    pub const STATUS: usize = 0;
    pub const CHS_FIRST: Field = 1..4;
    pub const KIND: usize = 4;
    pub const CHS_LAST: Field = 5..8;
    pub const FIRST_LBA: Field = 8..12;
    pub const SECTORS: Field = 12..16;
}

const SIGNATURE: [u8; 2] = [0x55, 0xaa];
const STATUS_BOOTABLE: u8 = 0x80;
/// CHS "beyond 1024 cylinders": every reader since LBA uses the LBA fields.
const CHS_LBA_ONLY: [u8; 3] = [0xfe, 0xff, 0xff];

view!(
    /// A read/write view of a disk's first sector.
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Refuses a buffer shorter than a sector.
    pub fn check_len(&self) -> Result<()> {
        check_min_len(self.buffer.as_ref(), SECTOR_LEN)
    }

    fn entry_field(i: usize, f: Field) -> Field {
        let at = field::ENTRY_0 + i * field::ENTRY_LEN;
        at + f.start..at + f.end
    }

    pub fn disk_id(&self) -> u32 {
        le_u32(self.buffer.as_ref(), field::DISK_ID)
    }

    pub fn signature(&self) -> [u8; 2] {
        let b = &self.buffer.as_ref()[field::SIGNATURE];
        [b[0], b[1]]
    }

    pub fn entry_status(&self, i: usize) -> u8 {
        self.buffer.as_ref()[field::ENTRY_0 + i * field::ENTRY_LEN + field::STATUS]
    }

    pub fn entry_kind(&self, i: usize) -> u8 {
        self.buffer.as_ref()[field::ENTRY_0 + i * field::ENTRY_LEN + field::KIND]
    }

    pub fn entry_first_lba(&self, i: usize) -> u32 {
        le_u32(self.buffer.as_ref(), Self::entry_field(i, field::FIRST_LBA))
    }

    pub fn entry_sectors(&self, i: usize) -> u32 {
        le_u32(self.buffer.as_ref(), Self::entry_field(i, field::SECTORS))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_disk_id(&mut self, value: u32) {
        set_le_u32(self.buffer.as_mut(), field::DISK_ID, value)
    }

    pub fn set_signature(&mut self) {
        self.buffer.as_mut()[field::SIGNATURE].copy_from_slice(&SIGNATURE)
    }

    /// Writes entry `i` (all 16 bytes; `None` zeroes it).
    pub fn set_entry(&mut self, i: usize, entry: Option<&Entry>) {
        let at = field::ENTRY_0 + i * field::ENTRY_LEN;
        let bytes = &mut self.buffer.as_mut()[at..at + field::ENTRY_LEN];
        bytes.fill(0);
        let Some(e) = entry else {
            return;
        };
        bytes[field::STATUS] = if e.bootable { STATUS_BOOTABLE } else { 0 };
        bytes[field::CHS_FIRST].copy_from_slice(&CHS_LBA_ONLY);
        bytes[field::KIND] = e.kind;
        bytes[field::CHS_LAST].copy_from_slice(&CHS_LBA_ONLY);
        bytes[field::FIRST_LBA].copy_from_slice(&e.first_lba.to_le_bytes());
        bytes[field::SECTORS].copy_from_slice(&e.sectors.to_le_bytes());
    }
}

/// One used primary entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub bootable: bool,
    pub kind: u8,
    pub first_lba: u32,
    pub sectors: u32,
}

impl Entry {
    /// The first logical block after the partition.
    pub fn end_lba(&self) -> u64 {
        u64::from(self.first_lba) + u64::from(self.sectors)
    }

    /// An extended partition (its logical partitions live elsewhere).
    pub fn is_extended(&self) -> bool {
        matches!(self.kind, 0x05 | 0x0f | 0x85)
    }
}

/// The table: the disk identifier and the four primary slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub disk_id: u32,
    pub entries: [Option<Entry>; ENTRIES],
}

impl Repr {
    /// A table with one partition and rccr's disk identifier.
    pub fn single(entry: Entry) -> Repr {
        Repr {
            disk_id: RCCR_DISK_ID,
            entries: [Some(entry), None, None, None],
        }
    }

    /// Parses a sector holding an MBR. An entry with no sectors is an
    /// empty slot; one of type 0 with sectors is a partition, as Linux
    /// reads it (its type is not looked at). A sector without the signature is not an
    /// MBR; nor is one whose used entries overlap or start at block 0 (a
    /// FAT or NTFS boot sector also ends in 0x55AA).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        if packet.signature() != SIGNATURE {
            return Err(Error);
        }
        let mut entries = [None; ENTRIES];
        for (i, slot) in entries.iter_mut().enumerate() {
            let status = packet.entry_status(i);
            let (kind, sectors) = (packet.entry_kind(i), packet.entry_sectors(i));
            if sectors == 0 {
                continue;
            }
            if status & !STATUS_BOOTABLE != 0 || packet.entry_first_lba(i) == 0 {
                return Err(Error);
            }
            *slot = Some(Entry {
                bootable: status == STATUS_BOOTABLE,
                kind,
                first_lba: packet.entry_first_lba(i),
                sectors,
            });
        }
        let used: Vec<&Entry> = entries.iter().flatten().collect();
        for (i, a) in used.iter().enumerate() {
            for b in &used[i + 1..] {
                if u64::from(a.first_lba) < b.end_lba() && u64::from(b.first_lba) < a.end_lba() {
                    return Err(Error);
                }
            }
        }
        Ok(Repr {
            disk_id: packet.disk_id(),
            entries,
        })
    }

    pub const fn buffer_len(&self) -> usize {
        SECTOR_LEN
    }

    /// Writes the identifier, the four entries and the signature; the boot
    /// code (bytes 0..440) and bytes 444..446 are left as they are.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_disk_id(self.disk_id);
        for (i, e) in self.entries.iter().enumerate() {
            packet.set_entry(i, e.as_ref());
        }
        packet.set_signature();
    }

    /// The used entry that ends last.
    pub fn last(&self) -> Option<&Entry> {
        self.entries.iter().flatten().max_by_key(|e| e.end_lba())
    }

    /// The first empty slot after every used one (partition numbers then
    /// follow disk order: the image's partition 1, ours 2).
    pub fn next_free_slot(&self) -> Option<usize> {
        let after = self
            .entries
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i + 1);
        (after < ENTRIES).then_some(after)
    }

    /// A GPT disk's protective entry, or an extended partition: tables rccr
    /// does not edit.
    pub fn editable(&self) -> bool {
        !self
            .entries
            .iter()
            .flatten()
            .any(|e| e.kind == TYPE_GPT_PROTECTIVE || e.is_extended())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of a Pi image as `build-os-image.sh` makes it (sfdisk):
    /// one bootable FAT32 LBA partition from sector 2048, 131072 sectors,
    /// disk id 0x52a1ee35, boot code bytes left at 0xa5 by the test.
    fn pi_sector() -> [u8; SECTOR_LEN] {
        let mut s = [0xa5u8; SECTOR_LEN];
        s[440..446].copy_from_slice(&[0x35, 0xee, 0xa1, 0x52, 0x00, 0x00]);
        s[446..462].copy_from_slice(&[
            0x80, 0x20, 0x21, 0x00, 0x0c, 0x49, 0x01, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,
            0x02, 0x00,
        ]);
        s[462..510].fill(0);
        s[510] = 0x55;
        s[511] = 0xaa;
        s
    }

    fn fat_entry() -> Entry {
        Entry {
            bootable: true,
            kind: 0x0c,
            first_lba: 2048,
            sectors: 131072,
        }
    }

    /// Linux makes a partition of every entry with sectors: a card whose
    /// second entry lost only its type byte has a partition after the
    /// boot one, and the slot is not free (review parsers-state, defect 1).
    #[test]
    fn an_entry_of_type_0_with_sectors_is_a_partition_as_linux_reads_it() {
        let mut bytes = pi_sector();
        bytes[470..474].copy_from_slice(&133_120u32.to_le_bytes());
        bytes[474..478].copy_from_slice(&2_097_152u32.to_le_bytes());
        let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(
            repr.entries[1].map(|e| (e.kind, e.first_lba)),
            Some((0, 133_120))
        );
        assert_eq!(repr.next_free_slot(), Some(2));
        assert_ne!(repr.last(), Some(&fat_entry()));
        // Over the boot partition, it is no table at all.
        bytes[470..474].copy_from_slice(&4_096u32.to_le_bytes());
        assert!(Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).is_err());
    }

    #[test]
    fn deconstruct() {
        let bytes = pi_sector();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.disk_id(), 0x52a1_ee35);
        assert_eq!(p.signature(), [0x55, 0xaa]);
        assert_eq!(p.entry_status(0), 0x80);
        assert_eq!(p.entry_kind(0), 0x0c);
        assert_eq!(p.entry_first_lba(0), 2048);
        assert_eq!(p.entry_sectors(0), 131072);
        for i in 1..ENTRIES {
            assert_eq!(p.entry_kind(i), 0);
        }
    }

    #[test]
    fn parse() {
        let bytes = pi_sector();
        let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(repr.disk_id, 0x52a1_ee35);
        assert_eq!(repr.entries, [Some(fat_entry()), None, None, None]);
        assert_eq!(repr.last(), Some(&fat_entry()));
        assert_eq!(repr.last().unwrap().end_lba(), 133120);
        assert_eq!(repr.next_free_slot(), Some(1));
        assert!(repr.editable());
    }

    #[test]
    fn emit_keeps_the_boot_code_and_writes_everything_else() {
        // Into a sector of 0xa5: every byte from 440 on but 444..446 is
        // written, the boot code stays. CHS fields say "use LBA".
        let mut bytes = [0xa5u8; SECTOR_LEN];
        let repr = Repr::parse(&Packet::new_checked(&pi_sector()[..]).unwrap()).unwrap();
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        let mut want = pi_sector();
        want[444..446].fill(0xa5);
        want[447..450].copy_from_slice(&[0xfe, 0xff, 0xff]);
        want[451..454].copy_from_slice(&[0xfe, 0xff, 0xff]);
        assert_eq!(bytes[..], want[..]);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap(),
            repr
        );
    }

    #[test]
    fn adding_an_entry_writes_its_16_bytes_only() {
        // Our partition after the image's: slot 1, type 83. The image's
        // entry keeps its CHS bytes, the rest of the sector every byte.
        let mut bytes = pi_sector();
        let ours = Entry {
            bootable: false,
            kind: TYPE_LINUX,
            first_lba: 133120,
            sectors: 1_095_680,
        };
        Packet::new_unchecked(&mut bytes[..]).set_entry(1, Some(&ours));
        assert_eq!(
            bytes[462..478],
            [
                0x00, 0xfe, 0xff, 0xff, 0x83, 0xfe, 0xff, 0xff, 0x00, 0x08, 0x02, 0x00, 0x00, 0xb8,
                0x10, 0x00
            ]
        );
        assert_eq!(bytes[..462], pi_sector()[..462]);
        assert_eq!(bytes[478..], pi_sector()[478..]);
        let back = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(back.entries, [Some(fat_entry()), Some(ours), None, None]);
        assert_eq!(back.next_free_slot(), Some(2));
        assert_eq!(back.last(), Some(&ours));
    }

    #[test]
    fn single_partition_table_is_marked_as_rccrs() {
        let mut bytes = [0u8; SECTOR_LEN];
        let entry = Entry {
            bootable: false,
            kind: TYPE_LINUX,
            first_lba: 2048,
            sectors: 4096,
        };
        let repr = Repr::single(entry);
        assert_eq!(repr.buffer_len(), bytes.len());
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(&bytes[440..444], b"RCCR");
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap(),
            repr
        );
    }

    #[test]
    fn short_buffers_and_unsigned_sectors_are_refused() {
        let bytes = pi_sector();
        for len in [0, 1, 446, SECTOR_LEN - 1] {
            assert!(Packet::new_checked(&bytes[..len]).is_err(), "{len}");
        }
        let mut unsigned = bytes;
        unsigned[511] = 0;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&unsigned[..]).unwrap()),
            Err(Error)
        );
        // All zeros: a blank disk has no table.
        assert!(Repr::parse(&Packet::new_checked(&[0u8; SECTOR_LEN][..]).unwrap()).is_err());
    }

    #[test]
    fn boot_sectors_that_merely_end_in_55aa_are_not_tables() {
        // What the code and BPB of a FAT boot sector look like when read as
        // a table: a status byte other than 0 or 0x80, an entry at block 0,
        // entries that overlap.
        let parse = |bytes: &[u8]| Repr::parse(&Packet::new_checked(bytes).unwrap());
        let mut bad_status = pi_sector();
        bad_status[446] = 0x12;
        assert_eq!(parse(&bad_status), Err(Error));
        let mut at_zero = pi_sector();
        at_zero[454..458].fill(0);
        assert_eq!(parse(&at_zero), Err(Error));
        let mut overlap = pi_sector();
        overlap.copy_within(446..462, 462);
        overlap[462] = 0;
        assert_eq!(parse(&overlap), Err(Error));
    }

    #[test]
    fn gpt_and_extended_tables_are_not_edited() {
        for kind in [TYPE_GPT_PROTECTIVE, 0x05, 0x0f, 0x85] {
            let mut bytes = pi_sector();
            bytes[450] = kind;
            let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
            assert!(!repr.editable(), "{kind:#x}");
        }
    }

    #[test]
    fn a_full_table_has_no_free_slot() {
        let mut repr = Repr::single(fat_entry());
        repr.entries[3] = Some(Entry {
            first_lba: 200_000,
            ..fat_entry()
        });
        assert_eq!(repr.next_free_slot(), None);
    }
}
