//! The operator's tools on the control, pointed at the cluster once setup
//! formed it: a docker context `rccr` (`ssh://root@MANAGER`, `:PORT` with
//! a port other than 22, made the default), so `docker node ls` works with no flags, and `~/.ansible.cfg`
//! naming rccr's inventory, so `ansible all -m ping` needs no `-i`.
//!
//! rccr never takes over what an operator made: a default context of
//! another name, or an `~/.ansible.cfg` without rccr's marker, is left as
//! it is, and setup says so.
use crate::error::Error;
use crate::fsutil;
use crate::json::Value;
use crate::state::StatePaths;

/// The context's name.
pub const CONTEXT: &str = "rccr";
/// The docker CLI keeps a context under the SHA-256 of its name:
/// `printf rccr | sha256sum` (checked by a test).
const CONTEXT_DIR: &str = "94ac67ad0bf7d3327d4669e7ecd245fe2c37266ee5bd556ca432b5e41822e8a0";
/// The first line of an `~/.ansible.cfg` rccr wrote.
const ANSIBLE_MARKER: &str =
    "# Written by rccr setup; rewritten on every run (delete this line to keep your own).";

/// Points the docker CLI at `manager` and Ansible at the inventory;
/// returns what the operator should hear.
pub fn point_tools(
    paths: &StatePaths,
    user: &str,
    manager: Option<&str>,
) -> Result<Vec<String>, Error> {
    let mut notes = Vec::new();
    if let Some(manager) = manager {
        notes.extend(docker_context(paths, user, manager)?);
    }
    notes.extend(ansible_cfg(paths)?);
    Ok(notes)
}

fn read_json(path: &std::path::Path) -> Result<Option<Value>, Error> {
    let Some(bytes) = crate::fsutil::read_if_any(path)? else {
        return Ok(None);
    };
    Value::parse(&bytes).map(Some).map_err(|e| {
        Error::bad_input(
            path.display().to_string(),
            format!("{e}; fix or remove the file"),
        )
    })
}

/// Writes `value` when it differs from what `path` holds.
fn write_json(path: &std::path::Path, value: &Value) -> Result<(), Error> {
    if read_json(path)?.as_ref() == Some(value) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    }
    fsutil::write_atomic(path, value.render().as_bytes(), 0o644)
}

fn docker_context(paths: &StatePaths, user: &str, manager: &str) -> Result<Vec<String>, Error> {
    let dir = paths.docker_dir();
    let mut meta = Value::Object(Vec::new());
    meta.set("Name", CONTEXT.into());
    meta.set("Metadata", Value::Object(Vec::new()));
    let mut endpoint = Value::Object(Vec::new());
    endpoint.set("Host", format!("ssh://{user}@{manager}").as_str().into());
    endpoint.set("SkipTLSVerify", Value::Bool(false));
    meta.entry(&["Endpoints"]).set("docker", endpoint);
    write_json(
        &dir.join("contexts/meta")
            .join(CONTEXT_DIR)
            .join("meta.json"),
        &meta,
    )?;

    let config_path = dir.join("config.json");
    let mut config = read_json(&config_path)?.unwrap_or(Value::Object(Vec::new()));
    match config.get("currentContext").as_str() {
        Some(other) if other != CONTEXT && other != "default" && !other.is_empty() => {
            return Ok(vec![format!(
                "docker context {CONTEXT} (ssh://{user}@{manager}) written; your default is {}: docker --context {CONTEXT} node ls",
                crate::print::name(other)
            )]);
        }
        _ => {}
    }
    config.set("currentContext", CONTEXT.into());
    write_json(&config_path, &config)?;
    Ok(vec![format!(
        "docker context {CONTEXT} (ssh://{user}@{manager}) is the default: docker node ls"
    )])
}

fn ansible_cfg(paths: &StatePaths) -> Result<Vec<String>, Error> {
    let path = paths.ansible_cfg();
    let text = format!(
        "{ANSIBLE_MARKER}\n[defaults]\ninventory = {}\nhost_key_checking = True\ninterpreter_python = auto_silent\n",
        paths.inventory_ini().display()
    );
    match std::fs::read_to_string(&path) {
        Ok(old) if old == text => return Ok(Vec::new()),
        Ok(old) if !old.starts_with(ANSIBLE_MARKER) => {
            return Ok(vec![format!(
                "{} is yours: not pointing Ansible at {} (add inventory = {} to it)",
                path.display(),
                paths.inventory_ini().display(),
                paths.inventory_ini().display()
            )])
        }
        _ => {}
    }
    fsutil::write_atomic(&path, text.as_bytes(), 0o644)?;
    Ok(vec![format!(
        "Ansible uses {} by default: ansible all -m ping",
        paths.inventory_ini().display()
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_directory_is_the_names_sha256() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf {CONTEXT} | sha256sum"))
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).starts_with(CONTEXT_DIR));
    }

    #[test]
    fn tools_are_pointed_but_an_operators_choices_are_kept() {
        let scratch = crate::state::scratch::home("tools");
        let (home, paths) = (&scratch.dir, &scratch.paths);
        let notes = point_tools(paths, "root", Some("10.0.0.5")).unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        let meta = std::fs::read_to_string(
            home.join(".docker/contexts/meta")
                .join(CONTEXT_DIR)
                .join("meta.json"),
        )
        .unwrap();
        assert_eq!(
            meta,
            r#"{"Name":"rccr","Metadata":{},"Endpoints":{"docker":{"Host":"ssh://root@10.0.0.5","SkipTLSVerify":false}}}"#
        );
        let config = std::fs::read_to_string(home.join(".docker/config.json")).unwrap();
        assert_eq!(config, r#"{"currentContext":"rccr"}"#);
        // A second run changes nothing; an operator's own choices stay.
        assert!(point_tools(paths, "root", Some("10.0.0.5")).unwrap()[1..].is_empty());
        std::fs::write(
            home.join(".docker/config.json"),
            r#"{"auths":{},"currentContext":"mine"}"#,
        )
        .unwrap();
        std::fs::write(home.join(".ansible.cfg"), "[defaults]\ninventory = /mine\n").unwrap();
        let notes = point_tools(paths, "root", Some("10.0.0.6")).unwrap();
        assert!(notes[0].contains("your default is mine"), "{notes:?}");
        assert!(notes[1].contains("is yours"), "{notes:?}");
        assert_eq!(
            std::fs::read_to_string(home.join(".ansible.cfg")).unwrap(),
            "[defaults]\ninventory = /mine\n"
        );
    }
}
