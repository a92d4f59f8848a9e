//! rccr's block in `~/.ssh/config`, for when the cluster key cannot live at
//! OpenSSH's default path (a key rccr did not make is there, and rccr never
//! overwrites it) or the nodes' SSH port is not 22 (`ssh.port`): the block
//! names the cluster key and the port for the nodes, by address and by
//! name, so a plain `ssh root@NODE` still works.
//!
//! ```text
//! # BEGIN rccr: written by rccr keyrotate/setup; edits inside are lost
//! Host 10.0.0.5 rccr-node-1 10.0.0.6
//!     IdentityFile /root/.rccr/cluster_key
//! Host 10.0.0.7 rccr-node-3
//!     Port 2222
//!     IdentityFile /root/.rccr/cluster_key
//! # END rccr
//! ```
//!
//! A rotation names the addresses of the nodes that took the key, and
//! moves those it named already to their port now, even at OpenSSH's
//! default key and port 22 ([`name_key_for`]); setup's record stage and
//! restore, which know their names, put each node's name beside its
//! address, and drop every other
//! ([`name_nodes`]): the block says each address, and its node's name
//! now, at its port; `rccr remove` takes a removed node's address out
//! with its name ([`forget_nodes`]): another host may answer there next.
//! `rccr restore` leaves the block saying what the restored state says
//! ([`name_restored_nodes`]): the restored key, at the restored port, for
//! the restored nodes alone.
//! A name goes with the address before it, so a rotation that moves an
//! address to another port moves its name too.
//! A name is one label of a [`Hostname`] (no dot, space, wildcard or
//! `!`), so no node can write a pattern or a directive into the block,
//! nor claim a DNS name other hosts answer to.
//!
//! The block goes at the end of the file (a `Host` line there cannot
//! capture the user's options above it); every other byte of the file is
//! kept, and the file is replaced atomically. The file is handled as
//! bytes, as ssh reads it: the user's part may be in any encoding (a
//! Latin-1 comment); only the block's `Host` lines, which rccr reads
//! back, must be UTF-8 text ([`BadBlock`]).
use crate::error::Error;
use crate::fsutil;
use crate::identity::{is_hostname, Hostname};
use crate::keys::addr::NodeAddr;
use crate::state::inventory::NodeRecord;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const BEGIN: &str = "# BEGIN rccr: written by rccr keyrotate/setup; edits inside are lost";
const END: &str = "# END rccr";
/// Hosts per `Host` line, so no line grows long.
const PER_LINE: usize = 16;

/// rccr's block holds a `Host` line that is not UTF-8 text (rccr writes
/// none such): which hosts it names cannot be told. The index of that
/// line in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadBlock {
    pub line: usize,
}

impl BadBlock {
    /// The refusal of `path`: one line, `PATH:LINE: ...`, what to do.
    fn refused(self, path: &Path) -> Error {
        Error::bad_line(
            path,
            self.line,
            "a Host line of rccr's block (# BEGIN rccr ... # END rccr) is not UTF-8 text, \
             so rccr cannot tell which nodes it names; write the nodes' addresses there \
             in ASCII, or delete the block (rccr writes it again at the next keyrotate)",
        )
    }
}

/// What a pattern of the block's `Host` lines names: a node's address or
/// its name. Nothing else is kept (an edit inside the block is lost).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Ip(IpAddr),
    Name(Hostname),
}

impl Pattern {
    /// An address, or a name: one label, as nodes name themselves (a
    /// dotted name is DNS's, which other hosts answer to), that ssh's
    /// resolver does not read as an address (`inet_aton` takes
    /// `167772165` and `0xa000005` for 10.0.0.5).
    fn parse(text: &str) -> Option<Pattern> {
        if let Ok(ip) = text.parse() {
            return Some(Pattern::Ip(ip));
        }
        let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"));
        let number = match hex {
            Some(digits) => digits.bytes().all(|b| b.is_ascii_hexdigit()),
            None => text.bytes().all(|b| b.is_ascii_digit()),
        };
        if number || !is_hostname(text) {
            return None;
        }
        Hostname::parse(text).ok().map(Pattern::Name)
    }
}

/// A pattern of the block and the port of its `Host` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Host {
    pattern: Pattern,
    port: u16,
}

/// A node in the block: its address, its port, and the names after the
/// address (its hostname), which go where the address goes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    ip: IpAddr,
    port: u16,
    names: Vec<Hostname>,
}

/// What rccr's blocks in a file say.
#[derive(Debug, Default, PartialEq, Eq)]
struct Block {
    /// The nodes they name, each at the port of its `Host` entry (22
    /// without a `Port` line).
    entries: Vec<Entry>,
    /// The key their last `IdentityFile` line names.
    key: Option<PathBuf>,
}

/// Whether two names are one node's: nodes are named without regard to
/// case, so the block writes a name in lower case beside its own
/// spelling (ssh matches `Host` patterns with regard to case).
fn same_name(a: &Hostname, b: &Hostname) -> bool {
    a.as_ref().eq_ignore_ascii_case(b.as_ref())
}

/// `hosts`, read in order, as entries: a name belongs to the address
/// before it, as rccr writes it, and takes that address's port. An
/// address or a name written twice (an edit) is kept once, a name before
/// any address not at all.
fn entries(hosts: Vec<Host>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut last = None;
    for host in hosts {
        match host.pattern {
            Pattern::Ip(ip) => {
                if let Some(at) = entries.iter().position(|e| e.ip == ip) {
                    last = Some(at);
                    continue;
                }
                last = Some(entries.len());
                entries.push(Entry {
                    ip,
                    port: host.port,
                    names: Vec::new(),
                });
            }
            Pattern::Name(name) => {
                let named = entries
                    .iter()
                    .flat_map(|e| &e.names)
                    .any(|n| same_name(n, &name));
                if let (Some(at), false) = (last, named) {
                    entries[at].names.push(name);
                }
            }
        }
    }
    entries
}

/// The file without rccr's blocks, and what they say. A block is a BEGIN
/// line, then an END line with no BEGIN between: a marker line the user
/// wrote on its own stays the user's, and so does what follows it.
fn split(content: &[u8]) -> Result<(Vec<u8>, Block), BadBlock> {
    let lines: Vec<&[u8]> = content.split_inclusive(|b| *b == b'\n').collect();
    let is = |line: &[u8], marker: &str| line.trim_ascii_end() == marker.as_bytes();
    let mut rest = Vec::new();
    let mut block = Block::default();
    let mut hosts = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if is(lines[i], BEGIN) {
            let body = &lines[i + 1..];
            let end = body
                .iter()
                .position(|l| is(l, BEGIN) || is(l, END))
                .filter(|&e| is(body[e], END));
            if let Some(end) = end {
                let mut entry = hosts.len();
                for (n, line) in body[..end].iter().enumerate() {
                    // Both keywords as ssh reads them: indented or not.
                    let line = line.trim_ascii();
                    if let Some(key) = line.strip_prefix(b"IdentityFile ") {
                        let key = key.strip_prefix(b"\"").unwrap_or(key);
                        let key = key.strip_suffix(b"\"").unwrap_or(key);
                        block.key = Some(PathBuf::from(std::ffi::OsStr::from_bytes(key)));
                    }
                    if let Some(port) = line.strip_prefix(b"Port ") {
                        let port = std::str::from_utf8(port).ok().and_then(|p| p.parse().ok());
                        hosts[entry..]
                            .iter_mut()
                            .for_each(|h: &mut Host| h.port = port.unwrap_or(22));
                    }
                    let Some(patterns) = line.strip_prefix(b"Host ") else {
                        continue;
                    };
                    let patterns =
                        std::str::from_utf8(patterns).map_err(|_| BadBlock { line: i + 1 + n })?;
                    entry = hosts.len();
                    hosts.extend(
                        patterns
                            .split_whitespace()
                            .filter_map(Pattern::parse)
                            .map(|pattern| Host { pattern, port: 22 }),
                    );
                }
                i += end + 2;
                continue;
            }
        }
        rest.extend_from_slice(lines[i]);
        i += 1;
    }
    block.entries = entries(hosts);
    Ok((rest, block))
}

/// The addresses of `entries`, each at its port.
#[cfg(test)]
fn addresses(entries: &[Entry]) -> Vec<NodeAddr> {
    entries
        .iter()
        .map(|e| NodeAddr {
            ip: e.ip,
            port: e.port,
        })
        .collect()
}

/// `content` with rccr's block naming `key` for its old nodes and the
/// `nodes` that took it: an address the block names moves to its node's
/// port now, the names beside it with it, even where plain `ssh` needs no
/// block (or `ssh root@NODE` would go to the old port); a node it does not
/// name is added only when it needs the block ([`needs_block`]). An
/// address no node took stays, at its port: only `rccr remove` takes one
/// out ([`forget_nodes`]).
pub fn render(
    content: &[u8],
    key: &Path,
    nodes: &[NodeAddr],
    key_at_default: bool,
) -> Result<Vec<u8>, BadBlock> {
    let (rest, Block { mut entries, .. }) = split(content)?;
    place(&mut entries, nodes, |node| {
        needs_block(key_at_default, node.port)
    });
    Ok(write_block(rest, key, entries))
}

/// Whether plain `ssh root@NODE` needs the block to reach a node at
/// `port`: the cluster key is not at OpenSSH's default path, or the port
/// is not 22.
fn needs_block(key_at_default: bool, port: u16) -> bool {
    !key_at_default || port != 22
}

/// Moves each of `entries` that a node of `nodes` holds to that node's
/// port, and adds the other nodes that `added` takes, at theirs.
fn place(entries: &mut Vec<Entry>, nodes: &[NodeAddr], added: impl Fn(&NodeAddr) -> bool) {
    for node in nodes {
        match entries.iter_mut().find(|e| e.ip == node.ip) {
            Some(entry) => entry.port = node.port,
            None if added(node) => entries.push(Entry {
                ip: node.ip,
                port: node.port,
                names: Vec::new(),
            }),
            None => {}
        }
    }
}

/// `content` with each address rccr's block names named by the hostname
/// of its node in `nodes` (every record), and by no other name: `ssh
/// root@NAME` then gets the key and the port `ssh root@IP` gets, and a
/// name no node holds now (renamed, removed, moved to another address)
/// leads nowhere. A block that names no key is left as it is.
fn render_names(content: &[u8], nodes: &[NodeRecord]) -> Result<Vec<u8>, BadBlock> {
    render_without(content, &[], nodes)
}

/// [`render_names`], the block first rid of the addresses `gone` that no
/// node of `nodes` holds: nodes removed, whose address another host may
/// take next.
fn render_without(
    content: &[u8],
    gone: &[IpAddr],
    nodes: &[NodeRecord],
) -> Result<Vec<u8>, BadBlock> {
    let (rest, Block { mut entries, key }) = split(content)?;
    let Some(key) = key else {
        return Ok(content.to_vec());
    };
    entries.retain(|e| !gone.contains(&e.ip) || nodes.iter().any(|n| n.ip == e.ip));
    name_entries(&mut entries, nodes);
    Ok(write_block(rest, &key, entries))
}

/// `content` with rccr's block saying what a restored state says: `key`
/// at `port` for the addresses `added` (of `nodes`) and for those of
/// `nodes` (every restored record) it named already, each by its node's name
/// ([`render_names`]); an address no restored node holds goes, as its
/// name does. At OpenSSH's default key and port 22 nothing is `added`:
/// an earlier block still follows the restored port, or `ssh root@NAME`
/// would go to its old one.
fn render_restored(
    content: &[u8],
    key: &Path,
    port: u16,
    added: &[IpAddr],
    nodes: &[NodeRecord],
) -> Result<Vec<u8>, BadBlock> {
    let (rest, Block { mut entries, .. }) = split(content)?;
    entries.retain(|e| nodes.iter().any(|n| n.ip == e.ip));
    let restored: Vec<NodeAddr> = nodes.iter().map(|n| NodeAddr { ip: n.ip, port }).collect();
    place(&mut entries, &restored, |node| added.contains(&node.ip));
    name_entries(&mut entries, nodes);
    Ok(write_block(rest, key, entries))
}

/// Names each of `entries` by the hostname of its node in `nodes`
/// ([`name_at`]), and by no other name.
fn name_entries(entries: &mut [Entry], nodes: &[NodeRecord]) {
    for entry in entries {
        entry.names = name_at(nodes, entry.ip).into_iter().collect();
    }
}

/// The name of the one node of `nodes` at `ip`, when it can be a pattern
/// ([`Pattern::parse`]) and no other node holds it: two records at one
/// address, or one name at two, cannot tell which node `ssh NAME` means.
fn name_at(nodes: &[NodeRecord], ip: IpAddr) -> Option<Hostname> {
    let mut at = nodes.iter().filter(|n| n.ip == ip);
    let (Some(node), None) = (at.next(), at.next()) else {
        return None;
    };
    let Some(Pattern::Name(name)) = Pattern::parse(node.hostname.as_ref()) else {
        return None;
    };
    let holders = nodes.iter().filter(|n| same_name(&n.hostname, &name));
    (holders.count() == 1).then_some(name)
}

/// `rest` (the file without a block) and a block naming `key` for
/// `entries`, one `Host` entry per port, the ports in ascending order,
/// each name after its address.
fn write_block(mut out: Vec<u8>, key: &Path, mut entries: Vec<Entry>) -> Vec<u8> {
    if entries.is_empty() {
        return out;
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(BEGIN.as_bytes());
    out.push(b'\n');
    // Stable: each port's nodes keep their order.
    entries.sort_by_key(|e| e.port);
    for at_port in entries.chunk_by(|a, b| a.port == b.port) {
        let port = at_port[0].port;
        let patterns: Vec<String> = at_port
            .iter()
            .flat_map(|e| {
                // ssh matches `Host` patterns with regard to case: the
                // name as the node spells it, and in lower case, as
                // people type it (read back, they are one name).
                let names = e.names.iter().flat_map(|n| {
                    let lower = n.as_ref().to_ascii_lowercase();
                    let exact = (lower != n.as_ref()).then(|| n.as_ref().to_string());
                    exact.into_iter().chain(std::iter::once(lower))
                });
                std::iter::once(e.ip.to_string()).chain(names)
            })
            .collect();
        // A name that starts a line is still its address's (the line
        // before): each port's lines begin with an address.
        for chunk in patterns.chunks(PER_LINE) {
            out.extend_from_slice(format!("Host {}\n", chunk.join(" ")).as_bytes());
            if port != 22 {
                out.extend_from_slice(format!("    Port {port}\n").as_bytes());
            }
            // The path as it is: ssh reads the file as bytes.
            out.extend_from_slice(b"    IdentityFile \"");
            out.extend_from_slice(key.as_os_str().as_bytes());
            out.extend_from_slice(b"\"\n");
        }
    }
    out.extend_from_slice(END.as_bytes());
    out.push(b'\n');
    out
}

/// Makes `~/.ssh/config` (`path`) name `key` and the port for the `nodes`
/// that took it ([`render`]; `key_at_default`: `key` is at a path plain
/// `ssh` offers), keeping the rest: the other bytes, the file's mode, and
/// a symbolic link (the file it points to is the one rewritten).
pub fn name_key_for(
    path: &Path,
    key: &Path,
    nodes: &[NodeAddr],
    key_at_default: bool,
) -> Result<(), Error> {
    rewrite(path, &|content| render(content, key, nodes, key_at_default))
}

/// Names the `nodes` (every record) whose addresses rccr's block in
/// `~/.ssh/config` (`path`) names by their hostnames, and by nothing else
/// ([`render_names`]), keeping the rest as [`name_key_for`] does.
pub fn name_nodes(path: &Path, nodes: &[NodeRecord]) -> Result<(), Error> {
    rewrite(path, &|content| render_names(content, nodes))
}

/// Takes the addresses `gone` (nodes `rccr remove` took out) out of
/// rccr's block in `~/.ssh/config` (`path`), unless a node of `nodes`
/// (every record that stays) holds one, then [`name_nodes`] the `nodes`:
/// the block names neither a removed node's address nor its name, and
/// every other node as before.
pub fn forget_nodes(path: &Path, gone: &[IpAddr], nodes: &[NodeRecord]) -> Result<(), Error> {
    rewrite(path, &|content| render_without(content, gone, nodes))
}

/// After a restore: rccr's block in `~/.ssh/config` (`path`) says what
/// the restored state says ([`render_restored`]), keeping the rest as
/// [`name_key_for`] does.
pub fn name_restored_nodes(
    path: &Path,
    key: &Path,
    port: u16,
    added: &[IpAddr],
    nodes: &[NodeRecord],
) -> Result<(), Error> {
    rewrite(path, &|content| {
        render_restored(content, key, port, added, nodes)
    })
}

/// What [`rewrite_user_file`] makes of a file's bytes, told its path.
pub type Edit<'e> = dyn FnMut(&Path, &[u8]) -> Result<Vec<u8>, Error> + 'e;

/// Rewrites the user's file `path` in `~/.ssh` (`~/.ssh/config`,
/// known_hosts; [`fsutil::user_file`]: its link and mode kept, `mode` for
/// a new one) as `edit` makes its bytes (read with [`fsutil::Trust::Kept`];
/// none when there is no file), when that changes them. A missing
/// directory is made private ([`crate::state::create_private_dir`]); one
/// that is there is the user's choice (`--known-hosts /tmp/kh`), as
/// before. From the read to the rename it holds the lock of the directory
/// ([`fsutil::lock_dir`]): runs of other state directories share `~/.ssh`,
/// and neither loses the other's change, nor its temporary file to the
/// other's sweep (`Lock::take`). Where the directory cannot be locked (a
/// `flock` on NFS may fail) it goes on without, as rccr did before.
pub fn rewrite_user_file(path: &Path, mode: u32, edit: &mut Edit) -> Result<(), Error> {
    let (path, mode) = fsutil::user_file(path, mode)?;
    let dir = fsutil::parent_dir(&path);
    if !dir.is_dir() {
        crate::state::create_private_dir(dir)?;
    }
    let _lock = fsutil::lock_dir(dir, || ()).ok();
    let content = fsutil::read_trusted_if_any(&path, fsutil::Trust::Kept)?.unwrap_or_default();
    let updated = edit(&path, &content)?;
    if updated == content {
        return Ok(());
    }
    fsutil::write_atomic(&path, &updated, mode)
}

/// What a rewrite of `~/.ssh/config` makes of its bytes.
type Render<'r> = dyn Fn(&[u8]) -> Result<Vec<u8>, BadBlock> + 'r;

/// Replaces the file `path` leads to with what `edit` makes of its bytes,
/// when that differs, in its mode ([`rewrite_user_file`]; ssh
/// refuses a config others may write, and so does rccr).
fn rewrite(path: &Path, edit: &Render) -> Result<(), Error> {
    rewrite_user_file(path, 0o600, &mut |path, content| {
        edit(content).map_err(|bad| bad.refused(path))
    })
}

/// Refuses a `~/.ssh/config` (`path`) that [`name_key_for`] would refuse
/// to rewrite: checked before any node hears of a new key, not after.
pub fn check(path: &Path) -> Result<(), Error> {
    let (path, _) = fsutil::user_file(path, 0o600)?;
    let content = fsutil::read_trusted_if_any(&path, fsutil::Trust::Kept)?.unwrap_or_default();
    split(&content).map_err(|bad| bad.refused(&path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> NodeAddr {
        NodeAddr {
            ip: s.parse().unwrap(),
            port: 22,
        }
    }

    fn render_text(content: &str, key: &Path, nodes: &[NodeAddr]) -> String {
        String::from_utf8(render(content.as_bytes(), key, nodes, false).unwrap()).unwrap()
    }

    #[test]
    fn the_block_goes_last_and_keeps_every_other_byte() {
        let mine = "# mine\nIdentityFile ~/.ssh/work\nHost laptop\n  User me";
        let key = Path::new("/root/.rccr/cluster_key");
        let once = render_text(mine, key, &[ip("10.0.0.5")]);
        assert_eq!(
            once,
            format!("{mine}\n{BEGIN}\nHost 10.0.0.5\n    IdentityFile \"/root/.rccr/cluster_key\"\n{END}\n")
        );
        // More nodes join the block; the user's part stays as it was.
        let twice = render_text(&once, key, &[ip("10.0.0.6"), ip("10.0.0.5")]);
        assert!(
            twice.starts_with(&format!("{mine}\n{BEGIN}\nHost 10.0.0.5 10.0.0.6\n")),
            "{twice}"
        );
        assert_eq!(
            split(twice.as_bytes()).unwrap().0,
            format!("{mine}\n").as_bytes()
        );
        assert_eq!(render_text(&twice, key, &[]), twice);
        // No nodes, no block.
        assert_eq!(render_text(mine, key, &[]), mine);
    }

    #[test]
    fn a_marker_the_user_wrote_alone_stays_theirs() {
        let key = Path::new("/k");
        let stray = format!("{BEGIN}\nHost mine\n  User me\n");
        let once = render_text(&stray, key, &[ip("10.0.0.5")]);
        assert!(once.starts_with(&stray), "{once}");
        assert_eq!(render_text(&once, key, &[]), once);
        let (rest, block) = split(once.as_bytes()).unwrap();
        assert_eq!(
            (rest, addresses(&block.entries)),
            (stray.into_bytes(), vec![ip("10.0.0.5")])
        );
    }

    /// ssh reads its config as bytes: a comment in Latin-1 is fine there,
    /// and every `rccr setup` (`--dry-run` too) and keyrotate refused the
    /// whole file as "not UTF-8 text" before any node was asked.
    #[test]
    fn the_users_bytes_that_are_not_utf8_are_kept_byte_for_byte() {
        let dir = fsutil::scratch::Dir::new("sshcfg-latin1");
        let path = dir.join("config");
        let mine: &[u8] = b"# Fran\xe7ois' laptop (Latin-1)\nHost laptop\n  User fran\xe7ois\n";
        std::fs::write(&path, mine).unwrap();
        check(&path).unwrap();
        let key = Path::new("/root/.rccr/cluster_key");
        name_key_for(&path, key, &[ip("10.0.0.5")], false).unwrap();
        let once = std::fs::read(&path).unwrap();
        assert!(once.starts_with(mine), "{}", String::from_utf8_lossy(&once));
        let (rest, block) = split(&once).unwrap();
        assert_eq!(
            (rest, addresses(&block.entries)),
            (mine.to_vec(), vec![ip("10.0.0.5")])
        );
        // The block follows the key; the user's bytes stay.
        name_key_for(&path, Path::new("/k2"), &[ip("10.0.0.6")], false).unwrap();
        let twice = std::fs::read(&path).unwrap();
        assert!(twice.starts_with(mine));
        assert!(
            twice.ends_with(
                format!("{BEGIN}\nHost 10.0.0.5 10.0.0.6\n    IdentityFile \"/k2\"\n{END}\n")
                    .as_bytes()
            ),
            "{}",
            String::from_utf8_lossy(&twice)
        );
    }

    /// A Host line of rccr's block that is not UTF-8 (an edit inside it):
    /// which nodes it names cannot be told, so the file is refused, naming
    /// the line and what to do, and left as it was.
    #[test]
    fn a_block_whose_hosts_cannot_be_read_is_refused_and_kept() {
        let dir = fsutil::scratch::Dir::new("sshcfg-badblock");
        let path = dir.join("config");
        let mut text = b"# caf\xe9\n".to_vec();
        text.extend_from_slice(format!("{BEGIN}\nHost 10.0.0.5 caf").as_bytes());
        text.extend_from_slice(b"\xe9\n    IdentityFile \"/k\"\n");
        text.extend_from_slice(format!("{END}\n").as_bytes());
        std::fs::write(&path, &text).unwrap();
        assert_eq!(split(&text).map(|_| ()), Err(BadBlock { line: 2 }));
        for e in [
            check(&path).unwrap_err(),
            name_key_for(&path, Path::new("/k"), &[ip("10.0.0.6")], false).unwrap_err(),
        ] {
            assert_eq!(e.exit_code(), crate::error::ExitCode::BadInput, "{e}");
            let said = e.to_string();
            assert!(
                said.starts_with(&format!(
                    "{}:3: a Host line of rccr's block",
                    path.display()
                )),
                "{said}"
            );
            assert!(said.contains("delete the block"), "{said}");
            assert_eq!(said.lines().count(), 1, "{said}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), text);
        // Not UTF-8 elsewhere in the block (the key's path): it is rccr's
        // to rewrite, and is.
        let key = Path::new(std::ffi::OsStr::from_bytes(b"/home/fran\xe7ois/k"));
        let once = render(b"", key, &[ip("10.0.0.5")], false).unwrap();
        assert_eq!(
            addresses(&split(&once).unwrap().1.entries),
            vec![ip("10.0.0.5")]
        );
        assert_eq!(render(&once, key, &[], false).unwrap(), once);
    }

    #[test]
    fn the_users_file_keeps_its_mode_and_its_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("rccr-sshcfg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("dotfiles")).unwrap();
        let real = dir.join("dotfiles/ssh_config");
        std::fs::write(&real, "Host *\n  ServerAliveInterval 30\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.join("config");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        name_key_for(&link, Path::new("/k"), &[ip("10.0.0.5")], false).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let text = std::fs::read_to_string(&real).unwrap();
        assert!(
            text.starts_with("Host *\n  ServerAliveInterval 30\n# BEGIN rccr"),
            "{text}"
        );
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        // A new file is the user's alone.
        let fresh = dir.join("fresh");
        name_key_for(&fresh, Path::new("/k"), &[ip("10.0.0.5")], false).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// With `ssh.port` other than 22, `ssh root@NODE` went to port 22: the
    /// block names the port of the nodes at another one, keeps it on the
    /// next run, and follows a node that moved to another port.
    #[test]
    fn nodes_at_another_port_get_a_port_line() {
        let key = Path::new("/k");
        let at = |s: &str, port| NodeAddr { port, ..ip(s) };
        let once = render_text("", key, &[at("10.0.0.5", 2222), ip("10.0.0.6")]);
        assert_eq!(
            once,
            format!(
                "{BEGIN}\nHost 10.0.0.6\n    IdentityFile \"/k\"\n\
                 Host 10.0.0.5\n    Port 2222\n    IdentityFile \"/k\"\n{END}\n"
            )
        );
        assert_eq!(render_text(&once, key, &[]), once);
        let moved = render_text(&once, key, &[at("10.0.0.6", 2222), at("10.0.0.7", 2200)]);
        assert_eq!(
            addresses(&split(moved.as_bytes()).unwrap().1.entries),
            [
                at("10.0.0.7", 2200),
                at("10.0.0.6", 2222),
                at("10.0.0.5", 2222)
            ]
        );
        assert!(
            moved.contains("Host 10.0.0.6 10.0.0.5\n    Port 2222\n"),
            "{moved}"
        );
        // A node named twice (an edit) moves whole: a second run changes nothing.
        let twice = format!(
            "{BEGIN}\nHost 10.0.0.9\n  Port 5\nHost 10.0.0.5\nHost 10.0.0.5\n  Port 5\n{END}\n"
        );
        let once = render_text(&twice, key, &[at("10.0.0.5", 7)]);
        assert_eq!(render_text(&once, key, &[at("10.0.0.5", 7)]), once);
        // A Port line before any Host of a block is no other block's.
        let two =
            format!("{BEGIN}\nHost 10.0.0.1\n{END}\n{BEGIN}\n  Port 5\nHost 10.0.0.2\n{END}\n");
        assert_eq!(
            addresses(&split(two.as_bytes()).unwrap().1.entries),
            [ip("10.0.0.1"), ip("10.0.0.2")]
        );
    }

    /// `Host` and `Port` are read alike, indented or not: an indented
    /// `Host` line was skipped, and its nodes left the block.
    #[test]
    fn host_and_port_lines_are_read_alike() {
        let text = format!("{BEGIN}\n  Host 10.0.0.5 \n\tPort 5\t\nHost 10.0.0.6\n{END}\n");
        let at = |s: &str, port| NodeAddr { port, ..ip(s) };
        assert_eq!(
            addresses(&split(text.as_bytes()).unwrap().1.entries),
            [at("10.0.0.5", 5), ip("10.0.0.6")]
        );
    }

    fn record(ip: &str, name: &str) -> NodeRecord {
        NodeRecord {
            ip: ip.parse().unwrap(),
            mac: None,
            hostname: Hostname::parse(name).unwrap(),
            role: crate::identity::Role::Target,
            arch: None,
            host_key: None,
            moved_from: None,
        }
    }

    /// `ssh root@NAME` got neither the key nor the port: the block named
    /// addresses only. A node's name goes beside its address, at its port;
    /// a node the block does not name, or no block, stays so.
    #[test]
    fn nodes_are_named_by_hostname_beside_their_address() {
        let key = Path::new("/k");
        let at = |s: &str, port| NodeAddr { port, ..ip(s) };
        let once = render_text(
            "# mine\n",
            key,
            &[at("10.0.0.5", 2222), at("10.0.0.6", 2222)],
        );
        let nodes = [
            record("10.0.0.6", "rccr-node-2"),
            record("10.0.0.5", "rccr-node-1"),
            record("10.0.0.9", "rccr-other"),
        ];
        let named = String::from_utf8(render_names(once.as_bytes(), &nodes).unwrap()).unwrap();
        assert_eq!(
            named,
            format!(
                "# mine\n{BEGIN}\nHost 10.0.0.5 rccr-node-1 10.0.0.6 rccr-node-2\n    Port 2222\n    \
                 IdentityFile \"/k\"\n{END}\n"
            )
        );
        // Named once; kept when the block is written again; and a node
        // that moves to another port takes its name along at once.
        assert_eq!(
            render_names(named.as_bytes(), &nodes).unwrap(),
            named.as_bytes()
        );
        let again = render_text(&named, Path::new("/k2"), &[at("10.0.0.7", 2222)]);
        assert!(
            again.contains("Host 10.0.0.5 rccr-node-1 10.0.0.6 rccr-node-2 10.0.0.7\n"),
            "{again}"
        );
        let moved = render_text(&named, key, &[at("10.0.0.6", 22)]);
        assert!(
            moved.contains("Host 10.0.0.6 rccr-node-2\n    IdentityFile"),
            "{moved}"
        );
        assert!(
            moved.contains("Host 10.0.0.5 rccr-node-1\n    Port 2222\n"),
            "{moved}"
        );
        // A name that reads as an address is none: not written, and
        // never another node's address; the names the nodes no longer
        // have go.
        let unnamed = [
            record("10.0.0.5", "10.0.0.5"),
            record("10.0.0.6", "10.0.0.9"),
        ];
        assert_eq!(
            render_names(named.as_bytes(), &unnamed).unwrap(),
            once.as_bytes()
        );
        // No block: nothing to name.
        assert_eq!(render_names(b"# mine\n", &nodes).unwrap(), b"# mine\n");
        // What is neither an address nor a hostname is no pattern of ours.
        let edited = format!("{BEGIN}\nHost 10.0.0.5 * !x a,b\n    IdentityFile \"/k\"\n{END}\n");
        assert_eq!(
            render_text(&edited, key, &[]),
            format!("{BEGIN}\nHost 10.0.0.5\n    IdentityFile \"/k\"\n{END}\n")
        );
    }

    fn named_text(content: &str, nodes: &[NodeRecord]) -> String {
        String::from_utf8(render_names(content.as_bytes(), nodes).unwrap()).unwrap()
    }

    /// That [`render_names`] makes `content` with `nodes` the block of
    /// `want` ([`block`]).
    #[track_caller]
    fn assert_named(content: &str, nodes: &[NodeRecord], want: &[(&str, u16)]) {
        assert_eq!(named_text(content, nodes), block(want));
    }

    /// A record per `(ip, hostname)`.
    fn records(nodes: &[(&str, &str)]) -> Vec<NodeRecord> {
        nodes.iter().map(|(ip, name)| record(ip, name)).collect()
    }

    /// The block rccr writes for `lines`, each `(hosts, port)`, key `/k`.
    fn block(lines: &[(&str, u16)]) -> String {
        let mut text = format!("{BEGIN}\n");
        for (hosts, port) in lines {
            text.push_str(&format!("Host {hosts}\n"));
            if *port != 22 {
                text.push_str(&format!("    Port {port}\n"));
            }
            text.push_str("    IdentityFile \"/k\"\n");
        }
        text + END + "\n"
    }

    /// A node renamed from web1 to db1 left `Host 10.0.0.5 web1 db1` for
    /// good: `ssh web1` then gave whatever answers to web1 the cluster key
    /// and rccr's port. The block names each address by its record's name
    /// now, and that alone.
    #[test]
    fn a_renamed_node_leaves_its_old_name_behind() {
        let once = named_text(&block(&[("10.0.0.5", 2222)]), &[record("10.0.0.5", "web1")]);
        assert_eq!(once, block(&[("10.0.0.5 web1", 2222)]));
        let renamed = named_text(&once, &[record("10.0.0.5", "db1")]);
        assert_eq!(renamed, block(&[("10.0.0.5 db1", 2222)]));
        // A name held by no record is gone even from a block an older rccr
        // wrote, where it sat beside another address.
        let old = block(&[("10.0.0.5 web1 db1 10.0.0.6 web2", 22)]);
        let nodes = records(&[("10.0.0.5", "db1"), ("10.0.0.6", "web2")]);
        assert_named(&old, &nodes, &[("10.0.0.5 db1 10.0.0.6 web2", 22)]);
    }

    /// ssh matches `Host` patterns with regard to case: a node named
    /// `ReCyClusteR-Target-01` (the images' names) was not reached by
    /// `ssh root@recycluster-target-01`. The block names it both ways, and
    /// rewriting it keeps the two as one name.
    #[test]
    fn a_name_is_written_as_spelt_and_in_lower_case() {
        let nodes = [record("10.0.0.5", "ReCyClusteR-Target-01")];
        let once = named_text(&block(&[("10.0.0.5", 2222)]), &nodes);
        let both = block(&[("10.0.0.5 ReCyClusteR-Target-01 recycluster-target-01", 2222)]);
        assert_eq!(once, both);
        assert_eq!(named_text(&once, &nodes), both);
        let lower = [record("10.0.0.5", "web1")];
        assert_eq!(named_text(&once, &lower), block(&[("10.0.0.5 web1", 2222)]));
    }

    /// A node gone from the records keeps its address in the block, which
    /// keyrotate wrote (only `rccr remove` takes it out), but no longer
    /// its name: another host may answer to it next.
    #[test]
    fn a_removed_node_loses_its_name() {
        let named = block(&[("10.0.0.5 web1 10.0.0.6 web2", 22)]);
        assert_named(
            &named,
            &[record("10.0.0.6", "web2")],
            &[("10.0.0.5 10.0.0.6 web2", 22)],
        );
        // Two records at one address, or one name at two addresses: which
        // node `ssh NAME` means cannot be told, so no such name is written.
        let twice = records(&[
            ("10.0.0.5", "web1"),
            ("10.0.0.5", "old"),
            ("10.0.0.6", "web1"),
        ]);
        assert_named(&named, &twice, &[("10.0.0.5 10.0.0.6", 22)]);
    }

    /// `rccr remove` left a removed node's address and name in the block
    /// until the next setup: `ssh root@IP` and `ssh root@NAME` gave
    /// whatever answers there next the cluster key (and rccr's port). The
    /// removed node's address goes with its name; every other node stays
    /// named as it was, and an address no record holds (keyrotate's)
    /// stays.
    #[test]
    fn a_removed_nodes_address_and_name_leave_the_block() {
        let named = block(&[
            ("10.0.0.8 db1", 22),
            ("10.0.0.5 web1 10.0.0.6 web2 10.0.0.7 web3 10.0.0.9", 2222),
        ]);
        let without = |gone: &[&str], nodes: &[NodeRecord]| {
            let gone: Vec<IpAddr> = gone.iter().map(|g| g.parse().unwrap()).collect();
            String::from_utf8(render_without(named.as_bytes(), &gone, nodes).unwrap()).unwrap()
        };
        let all = [
            ("10.0.0.8", "db1"),
            ("10.0.0.5", "web1"),
            ("10.0.0.6", "web2"),
            ("10.0.0.7", "web3"),
        ];
        let staying = |gone: &[&str]| -> Vec<NodeRecord> {
            let kept: Vec<(&str, &str)> = all
                .into_iter()
                .filter(|(ip, _)| !gone.contains(ip))
                .collect();
            records(&kept)
        };
        // Nothing gone: the block is as it was.
        assert_eq!(without(&[], &staying(&[])), named);
        assert_eq!(
            without(&["10.0.0.6"], &staying(&["10.0.0.6"])),
            block(&[
                ("10.0.0.8 db1", 22),
                ("10.0.0.5 web1 10.0.0.7 web3 10.0.0.9", 2222)
            ])
        );
        // The one node at a port: its entry goes.
        assert_eq!(
            without(&["10.0.0.8"], &staying(&["10.0.0.8"])),
            block(&[("10.0.0.5 web1 10.0.0.6 web2 10.0.0.7 web3 10.0.0.9", 2222)])
        );
        // Every address gone: no block, the user's lines kept.
        let mine = format!("Host laptop\n  User me\n{named}");
        let gone = ["10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9"];
        let ips: Vec<IpAddr> = gone.iter().map(|g| g.parse().unwrap()).collect();
        assert_eq!(
            render_without(mine.as_bytes(), &ips, &[]).unwrap(),
            b"Host laptop\n  User me\n"
        );
        // An address a node that stays holds (two records were at it)
        // stays, named now by the one node there.
        let mut shared = staying(&["10.0.0.5"]);
        shared.push(record("10.0.0.5", "old"));
        assert_eq!(
            without(&["10.0.0.5"], &shared),
            block(&[
                ("10.0.0.8 db1", 22),
                ("10.0.0.5 old 10.0.0.6 web2 10.0.0.7 web3 10.0.0.9", 2222)
            ])
        );
        // A block that names no key is no block of rccr's to rewrite.
        let keyless = format!("{BEGIN}\nHost 10.0.0.5 web1\n{END}\n");
        let ips = ["10.0.0.5".parse().unwrap()];
        assert_eq!(
            render_without(keyless.as_bytes(), &ips, &[]).unwrap(),
            keyless.as_bytes()
        );
    }

    /// A name stayed beside the address it was first written to, at that
    /// port: a node that moved to another address, or an address keyrotate
    /// moved to another port, left `ssh NAME` at the old one. A name goes
    /// with its node's address now, and keyrotate, which knows no names,
    /// moves the names beside an address with it.
    #[test]
    fn a_name_moves_with_its_address() {
        let key = Path::new("/k");
        let at = |s: &str, port| NodeAddr { port, ..ip(s) };
        let named = block(&[("10.0.0.5 web1 10.0.0.6 web2", 2222)]);
        // keyrotate moves 10.0.0.6 to 2200, web2 along.
        let rotated = render_text(&named, key, &[at("10.0.0.6", 2200)]);
        assert_eq!(
            rotated,
            block(&[("10.0.0.6 web2", 2200), ("10.0.0.5 web1", 2222)])
        );
        // A name at the end of a line stays with its address on the next.
        let many: Vec<NodeAddr> = (1..=16).map(|n| ip(&format!("10.0.1.{n}"))).collect();
        let long = render_text("", key, &many);
        let long = named_text(&long, &[record("10.0.1.16", "last")]);
        let moved = render_text(&long, key, &[at("10.0.1.16", 7)]);
        assert!(
            moved.contains("Host 10.0.1.16 last\n    Port 7\n"),
            "{moved}"
        );
        // web1 moved from 10.0.0.5 to 10.0.0.7 (which keyrotate named).
        let with_new = render_text(&named, key, &[at("10.0.0.7", 2222)]);
        let nodes = records(&[("10.0.0.7", "web1"), ("10.0.0.6", "web2")]);
        assert_named(
            &with_new,
            &nodes,
            &[("10.0.0.5 10.0.0.6 web2 10.0.0.7 web1", 2222)],
        );
    }

    /// `rccr restore` at the default key and port 22 named the restored
    /// nodes in an earlier block but kept its ports and its other
    /// addresses: a restored node the block had at `Port 2222` was named
    /// there, so `ssh root@NAME` went to 2222 while the restored config
    /// says 22. The block says what the restored state says: the restored
    /// port for every address it keeps, only the restored nodes'
    /// addresses, each by its name.
    #[test]
    fn a_restore_leaves_the_block_as_the_restored_state_says() {
        let earlier = format!(
            "# mine\n{BEGIN}\nHost 10.0.0.9 gone\n    IdentityFile \"/old\"\n\
             Host 10.0.0.5 web1 10.0.0.6\n    Port 2222\n    IdentityFile \"/old\"\n{END}\n"
        );
        let nodes = records(&[("10.0.0.5", "db1"), ("10.0.0.7", "web3")]);
        let restored = |content: &str, port, added: &[&str]| {
            let added: Vec<IpAddr> = added.iter().map(|a| a.parse().unwrap()).collect();
            let out = render_restored(content.as_bytes(), Path::new("/k"), port, &added, &nodes);
            String::from_utf8(out.unwrap()).unwrap()
        };
        // The default key at port 22: no address added, the one the block
        // names moved to 22 with its name; the others gone.
        let at_22 = restored(&earlier, 22, &[]);
        assert_eq!(at_22, format!("# mine\n{}", block(&[("10.0.0.5 db1", 22)])));
        assert_eq!(restored(&at_22, 22, &[]), at_22);
        // Another port (or key): every node there, added or not.
        let at_2200 = restored(&earlier, 2200, &["10.0.0.5", "10.0.0.7"]);
        let both = block(&[("10.0.0.5 db1 10.0.0.7 web3", 2200)]);
        assert_eq!(at_2200, format!("# mine\n{both}"));
        assert_eq!(restored(&at_2200, 2200, &["10.0.0.5", "10.0.0.7"]), at_2200);
        // Back to 22 at the default key: both stay, at 22.
        let back = block(&[("10.0.0.5 db1 10.0.0.7 web3", 22)]);
        assert_eq!(restored(&at_2200, 22, &[]), format!("# mine\n{back}"));
        // No address of the block restored: no block, the user's lines
        // kept; and no block, nothing added, nothing written.
        let elsewhere = format!("# mine\n{}", block(&[("10.0.0.9 gone", 2222)]));
        assert_eq!(restored(&elsewhere, 22, &[]), "# mine\n");
        assert_eq!(restored("# mine\n", 22, &[]), "# mine\n");
    }

    /// A keyrotate with the cluster key at OpenSSH's default path and the
    /// nodes at port 22 named none of them, so an earlier block kept a
    /// node at `Port 2222` and `ssh root@NODE` went to 2222 after
    /// `ssh.port` came back to 22. Every address the block names moves to
    /// the port its node took the key at; a new one is added only where
    /// the block is needed (a key elsewhere, or a port other than 22); an
    /// address no node took stays (only `rccr remove` takes one out).
    #[test]
    fn a_rotation_at_the_default_key_and_port_moves_the_block_to_22() {
        let key = Path::new("/k");
        let at = |s: &str, port| NodeAddr { port, ..ip(s) };
        let earlier = format!(
            "# mine\n{}",
            block(&[("10.0.0.5 web1 10.0.0.9 gone", 2222)])
        );
        let rotate = |content: &str, nodes: &[NodeAddr], at_default| {
            let out = render(content.as_bytes(), key, nodes, at_default).unwrap();
            String::from_utf8(out).unwrap()
        };
        let took = [ip("10.0.0.5"), ip("10.0.0.6")];
        let at_22 = rotate(&earlier, &took, true);
        assert_eq!(
            at_22,
            format!(
                "# mine\n{}",
                block(&[("10.0.0.5 web1", 22), ("10.0.0.9 gone", 2222)])
            )
        );
        assert_eq!(rotate(&at_22, &took, true), at_22);
        // No block, nothing to move: none is written.
        assert_eq!(rotate("# mine\n", &took, true), "# mine\n");
        // Another port at the default key: every node there, added or not.
        let took = [at("10.0.0.5", 2200), at("10.0.0.6", 2200)];
        assert_eq!(
            rotate(&at_22, &took, true),
            format!(
                "# mine\n{}",
                block(&[("10.0.0.5 web1 10.0.0.6", 2200), ("10.0.0.9 gone", 2222)])
            )
        );
    }

    /// Only a node's own single-label name becomes a pattern: a dotted
    /// name is DNS's (other hosts answer to `name.example.org`), and a
    /// number is an address to ssh's resolver (`ssh 167772165` is
    /// 10.0.0.5). One already in the block is dropped when it is written.
    #[test]
    fn a_dotted_or_numeric_name_is_never_written() {
        let key = Path::new("/k");
        let bare = block(&[("10.0.0.5 10.0.0.6 10.0.0.7", 22)]);
        let nodes = records(&[
            ("10.0.0.5", "recycluster.example.org"),
            ("10.0.0.6", "167772165"),
            ("10.0.0.7", "0xa000005"),
        ]);
        assert_eq!(named_text(&bare, &nodes), bare);
        let old = block(&[("10.0.0.5 recycluster.example.org 10.0.0.6 0x0A", 22)]);
        assert_eq!(
            render_text(&old, key, &[]),
            block(&[("10.0.0.5 10.0.0.6", 22)])
        );
    }

    #[test]
    fn many_nodes_make_short_lines() {
        let nodes: Vec<NodeAddr> = (1..=40).map(|n| ip(&format!("10.0.0.{n}"))).collect();
        let text = render_text("", Path::new("/k"), &nodes);
        assert_eq!(text.matches("Host ").count(), 3);
        assert_eq!(addresses(&split(text.as_bytes()).unwrap().1.entries), nodes);
    }
}
