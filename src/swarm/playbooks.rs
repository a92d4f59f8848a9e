//! The built-in playbooks, shipped inside the binary (`include_str!`) so
//! they always match the rccr that runs them.
//!
//! `rccr setup` writes them to `STATE_DIR/playbooks/` (default
//! `~/.rccr/playbooks/`) next to `ansible.cfg` and `cluster_vars.json` (the
//! extra vars built from cluster_config.yml), then runs
//!
//! ```text
//! ANSIBLE_CONFIG=STATE_DIR/playbooks/ansible.cfg ansible-playbook \
//!     -i STATE_DIR/inventory.ini -e @STATE_DIR/playbooks/cluster_vars.json \
//!     STATE_DIR/playbooks/site.yml
//! ```
//!
//! followed by the config's own `playbooks:`, each as
//! `ansible-playbook -i STATE_DIR/inventory.ini PLAYBOOK`. Without
//! `ansible-playbook` on PATH the files are still written and the commands
//! printed.
use crate::config::{Config, Container, Port, Protocol};
use crate::error::Error;
use crate::fsutil;
use crate::json;
use crate::print;
use crate::state::{create_private_dir, StatePaths};
use std::path::Path;
use std::process::Command;

/// The playbooks, by file name; `site.yml` imports the three layers.
pub const FILES: [(&str, &str); 4] = [
    ("site.yml", include_str!("../playbooks/site.yml")),
    ("machine.yml", include_str!("../playbooks/machine.yml")),
    ("swarm.yml", include_str!("../playbooks/swarm.yml")),
    (
        "containers.yml",
        include_str!("../playbooks/containers.yml"),
    ),
];

pub const SITE: &str = "site.yml";
pub const VARS_FILE: &str = "cluster_vars.json";
pub const ANSIBLE_CFG: &str = "ansible.cfg";
/// Ansible's connections at once: a cluster of 64 nodes in one round.
pub const FORKS: usize = 64;

/// The swarm constraints of a container's placement.
pub fn constraints(c: &Container) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(arch) = &c.placement.arch {
        out.push(format!("node.labels.rccr.arch=={arch}"));
    }
    for (key, value) in &c.placement.labels {
        out.push(format!("node.labels.{key}=={value}"));
    }
    out
}

/// A published port as `docker service create --publish` takes it and
/// `docker service inspect` reads back.
pub fn publish(p: &Port) -> String {
    let protocol = match p.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    };
    format!(
        "published={},target={},protocol={protocol}",
        p.published, p.target
    )
}

/// The extra vars: cluster name, the removal flag and the services.
pub fn extra_vars(config: &Config, remove_missing: bool) -> String {
    let mut out = String::from("{\n");
    out.push_str(&format!(
        "  \"rccr_cluster_name\": {},\n  \"rccr_remove_missing\": {remove_missing},\n  \"rccr_containers\": [",
        json::string(&config.cluster.name)
    ));
    for (i, c) in config.containers.iter().enumerate() {
        out.push_str(if i == 0 { "\n    " } else { ",\n    " });
        let ports: Vec<String> = c.ports.iter().map(publish).collect();
        out.push_str(&format!(
            "{{\"name\": {}, \"image\": {}, \"replicas\": {}, \"constraints\": {}, \"publish\": {}}}",
            json::string(&c.name),
            json::string(&c.image),
            c.replicas,
            print::string_array(&constraints(c)),
            print::string_array(&ports)
        ));
    }
    if !config.containers.is_empty() {
        out.push_str("\n  ");
    }
    out.push_str("]\n}\n");
    out
}

/// Ansible's settings for the built-in playbooks: host keys checked
/// against the known_hosts file rccr pins them in, no prompts, pipelining.
pub fn ansible_cfg(known_hosts: &Path) -> String {
    let known = known_hosts.display().to_string();
    let known = if known.contains(char::is_whitespace) {
        format!("\"{known}\"")
    } else {
        known
    };
    format!(
        "# Ansible settings for rccr's built-in playbooks (written by rccr setup;\n\
         # rewritten on every run).\n\
         [defaults]\n\
         forks = {FORKS}\n\
         host_key_checking = True\n\
         interpreter_python = auto_silent\n\
         retry_files_enabled = False\n\
         timeout = 10\n\
         \n\
         [ssh_connection]\n\
         pipelining = True\n\
         ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes -o BatchMode=yes \
         -o StrictHostKeyChecking=yes -o UserKnownHostsFile={known}\n"
    )
}

/// Writes a file unless it already holds `contents`.
fn write_if_changed(path: &Path, contents: &str, mode: u32) -> Result<(), Error> {
    if std::fs::read(path).is_ok_and(|old| old == contents.as_bytes()) {
        return Ok(());
    }
    fsutil::write_atomic(path, contents.as_bytes(), mode)
}

/// Writes the playbooks, ansible.cfg and the extra vars into `dir`.
pub fn write_out(
    dir: &Path,
    config: &Config,
    known_hosts: &Path,
    remove_missing: bool,
) -> Result<(), Error> {
    create_private_dir(dir)?;
    for (name, text) in FILES {
        write_if_changed(&dir.join(name), text, 0o644)?;
    }
    write_if_changed(&dir.join(ANSIBLE_CFG), &ansible_cfg(known_hosts), 0o644)?;
    write_if_changed(
        &dir.join(VARS_FILE),
        &extra_vars(config, remove_missing),
        0o600,
    )
}

/// Writes the built-in playbooks out and, when `ansible-playbook` is on
/// PATH, runs them, then the config's own playbooks; true when one failed
/// (the ones after it are not run). Without ansible-playbook, prints the
/// commands to run.
pub fn run(config: &Config, paths: &StatePaths, remove_missing: bool) -> Result<bool, Error> {
    let dir = paths.playbooks_dir();
    let inventory = &paths.inventory_ini();
    write_out(&dir, config, &paths.known_hosts, remove_missing)?;
    let site = dir.join(SITE);
    let vars = format!("@{}", dir.join(VARS_FILE).display());
    let cfg = dir.join(ANSIBLE_CFG);
    if !fsutil::on_path("ansible-playbook") {
        eprintln!(
            "rccr setup: no ansible-playbook on PATH; next: ANSIBLE_CONFIG={} ansible-playbook -i {} -e {vars} {}",
            cfg.display(),
            inventory.display(),
            site.display()
        );
        for playbook in &config.playbooks {
            eprintln!(
                "rccr setup: next: ansible-playbook -i {} {}",
                inventory.display(),
                playbook.display()
            );
        }
        return Ok(false);
    }
    eprintln!(
        "rccr setup: running the built-in playbooks ({})",
        site.display()
    );
    let status = Command::new("ansible-playbook")
        .env("ANSIBLE_CONFIG", &cfg)
        .arg("-i")
        .arg(inventory)
        .arg("-e")
        .arg(&vars)
        .arg(&site)
        .status()
        .map_err(|e| Error::io("cannot run ansible-playbook", e))?;
    if !status.success() {
        return Ok(true);
    }
    for playbook in &config.playbooks {
        eprintln!(
            "rccr setup: running ansible-playbook {}",
            playbook.display()
        );
        let status = Command::new("ansible-playbook")
            .arg("-i")
            .arg(inventory)
            .arg(playbook)
            .status()
            .map_err(|e| Error::io("cannot run ansible-playbook", e))?;
        if !status.success() {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Placement;

    fn web() -> Container {
        Container {
            name: "web".into(),
            image: "nginx:alpine".into(),
            replicas: 2,
            placement: Placement {
                arch: Some(crate::identity::Arch::Aarch64),
                labels: vec![("disk".into(), "ssd".into())],
            },
            ports: vec![
                Port {
                    published: 8080,
                    target: 80,
                    protocol: Protocol::Tcp,
                },
                Port {
                    published: 5353,
                    target: 53,
                    protocol: Protocol::Udp,
                },
            ],
        }
    }

    #[test]
    fn constraints_and_ports_read_as_docker_writes_them() {
        assert_eq!(
            constraints(&web()),
            ["node.labels.rccr.arch==aarch64", "node.labels.disk==ssd"]
        );
        assert_eq!(
            publish(&web().ports[1]),
            "published=5353,target=53,protocol=udp"
        );
    }

    #[test]
    fn extra_vars_are_json_with_every_container() {
        let mut config = Config::default();
        let text = extra_vars(&config, false);
        assert_eq!(
            text,
            "{\n  \"rccr_cluster_name\": \"recycluster\",\n  \"rccr_remove_missing\": false,\n  \"rccr_containers\": []\n}\n"
        );
        config.containers.push(web());
        config.containers.push(Container {
            name: "q\"uote".into(),
            placement: Placement::default(),
            ports: Vec::new(),
            ..web()
        });
        let text = extra_vars(&config, true);
        assert!(text.contains("\"rccr_remove_missing\": true"), "{text}");
        assert!(text.contains("{\"name\": \"web\", \"image\": \"nginx:alpine\", \"replicas\": 2, \"constraints\": [\"node.labels.rccr.arch==aarch64\", \"node.labels.disk==ssd\"], \"publish\": [\"published=8080,target=80,protocol=tcp\", \"published=5353,target=53,protocol=udp\"]}"), "{text}");
        assert!(text.contains("{\"name\": \"q\\\"uote\", \"image\": \"nginx:alpine\", \"replicas\": 2, \"constraints\": [], \"publish\": []}\n  ]"), "{text}");
    }

    #[test]
    fn ansible_cfg_pins_host_keys_to_rccrs_known_hosts() {
        let cfg = ansible_cfg(Path::new("/root/.ssh/known_hosts"));
        assert!(cfg.contains("host_key_checking = True\n"), "{cfg}");
        assert!(
            cfg.contains(
                "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/root/.ssh/known_hosts\n"
            ),
            "{cfg}"
        );
        assert!(ansible_cfg(Path::new("/a b/kh")).contains("UserKnownHostsFile=\"/a b/kh\"\n"));
    }

    #[test]
    fn playbooks_are_embedded_and_site_imports_each_layer() {
        let site = FILES[0].1;
        for (name, text) in &FILES[1..] {
            assert!(site.contains(&format!("import_playbook: {name}")), "{name}");
            assert!(text.starts_with("---\n"), "{name}");
        }
    }

    #[test]
    fn write_out_writes_once_and_keeps_unchanged_files() {
        let dir = std::env::temp_dir().join(format!("rccr-playbooks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = Config::default();
        write_out(&dir, &config, Path::new("/kh"), false).unwrap();
        let site = dir.join(SITE);
        let before = std::fs::metadata(&site).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_out(&dir, &config, Path::new("/kh"), false).unwrap();
        assert_eq!(
            std::fs::metadata(&site).unwrap().modified().unwrap(),
            before
        );
        assert_eq!(std::fs::read_to_string(&site).unwrap(), FILES[0].1);
        assert!(std::fs::read_to_string(dir.join(VARS_FILE))
            .unwrap()
            .contains("\"rccr_containers\": []"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
