//! DVC stages (`dvc.yaml` for the definition, `dvc.lock` for the last run) as dv steps: the commands run through
//! `sh -c` as DVC runs them ([`shell_command`]), the stage's folder as the workdir, its deps, params and cached outs. What `dvc.lock`
//! recorded becomes the step's record, so a stage whose lock matches the work tree is up to date in dv too;
//! an input whose recorded version dv cannot tell (changed since, or a folder DVC hashed its own way) is
//! recorded as unknown, which makes the step stale rather than wrongly up to date.

use std::collections::BTreeMap;

use super::dvc::{LockStage, Pipeline};
use super::{DvcOptions, MigrateReport, MigratedStep, Skipped};
use crate::ops::pointers::Staging;
use crate::session::Locked;
use crate::steps::{
    NodeRecord, Param, PathRecord, RunRecord, STEPS_DIR, Step, check_param_key, check_step_name,
    json_to_toml,
};
use crate::store::object::Node;
use crate::{Error, Result};

/// The step command that runs a stage's commands as DVC runs them: each through `sh -c` on its own (a
/// subshell: what one changes, such as its folder, does not reach the next), stopping at the first that fails
/// with its exit status, with `DVC_ROOT` (the work tree's root, from dv's `DV_ROOT`, unless already set) and
/// `DVC_STAGE` (the stage's address, `NAME` or `DIR/dvc.yaml:NAME`) set as DVC sets them. `yaml` is the
/// `dvc.yaml` the stage is in.
pub fn shell_command(cmds: &[String], yaml: &str, name: &str) -> Vec<String> {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let address = match crate::paths::split(yaml).0 {
        "" => name.to_string(),
        _ => format!("{yaml}:{name}"),
    };
    let mut script = format!(
        "export DVC_ROOT=\"${{DVC_ROOT:-$DV_ROOT}}\" DVC_STAGE={}\n",
        quote(&address)
    );
    match cmds {
        [one] => script.push_str(one),
        many => {
            for c in many {
                // `:` first: a line that is only a comment runs as nothing (as `sh -c '# …'` does for DVC)
                // rather than leave an empty subshell, which is a syntax error; otherwise the line's status is
                // the subshell's.
                script.push_str(&format!("(\n:\n{c}\n) || exit\n"));
            }
        }
    }
    vec!["sh".into(), "-c".into(), script]
}

#[allow(clippy::too_many_arguments)]
pub(super) fn convert(
    s: &Locked<'_>,
    yaml: &str,
    pipeline: &Pipeline,
    lock: &[LockStage],
    nodes: &BTreeMap<String, (super::Md5, Node)>,
    opts: &DvcOptions,
    shared_names: &std::collections::BTreeSet<String>,
    staging: &mut Staging,
    report: &mut MigrateReport,
) -> Result<()> {
    let (repo, store) = (s.repo(), s.store());
    for why in &pipeline.unmapped {
        report.skipped.push(Skipped {
            what: yaml.to_string(),
            reason: why.clone(),
        });
    }
    for (name, why) in &pipeline.skipped {
        report.skipped.push(Skipped {
            what: format!("stage '{name}' of {yaml}"),
            reason: why.clone(),
        });
    }
    let layout = repo.config.layout();
    for st in &pipeline.stages {
        let skip = |report: &mut MigrateReport, reason: String| {
            report.skipped.push(Skipped {
                what: format!("stage '{}' of {yaml}", st.name),
                reason,
            })
        };
        // A stage name several dvc.yaml files use is prefixed with its folder (`a/b/dvc.yaml`'s `train` is
        // `a-b-train`), outside the root's; a name only one uses is kept.
        let dir = crate::paths::split(yaml).0;
        let name = if shared_names.contains(&st.name) && !dir.is_empty() {
            format!("{}-{}", dir.replace('/', "-"), st.name)
        } else {
            st.name.clone()
        };
        if let Err(why) = check_step_name(&name) {
            skip(report, format!("its name cannot name a dv step: {why}"));
            continue;
        }
        if report.steps.iter().any(|m| m.name == name) {
            skip(report, "a stage of that name was converted already".into());
            continue;
        }
        let locked = lock.iter().find(|l| l.name == st.name);
        let mut notes = st.unmapped.clone();
        let mut deps = Vec::new();
        for d in &st.deps {
            let rec = locked.and_then(|l| l.deps.iter().find(|x| &x.path == d));
            let node = match rec.and_then(|r| r.md5.as_ref()) {
                None => None,
                Some(m) => match nodes.get(d) {
                    Some((md5, n)) if md5 == m => Some(NodeRecord::of(n)),
                    Some(_) => {
                        notes.push(format!("input '{d}' changed since dvc.lock recorded it"));
                        None
                    }
                    None if m.dir => {
                        notes.push(format!(
                            "input folder '{d}' is not DVC-tracked data, so dvc.lock's hash of it cannot be \
                             checked: recorded as unknown"
                        ));
                        None
                    }
                    None => {
                        let abs = repo.abs(d);
                        if file_md5_is(&abs, &m.hex)? {
                            crate::ops::run::fingerprint(repo, store, d, layout)?
                                .map(|n| NodeRecord::of(&n))
                        } else {
                            notes.push(format!("input '{d}' changed since dvc.lock recorded it"));
                            None
                        }
                    }
                },
            };
            deps.push(PathRecord {
                path: d.clone(),
                node,
            });
        }
        let mut params = Vec::new();
        for (file, key) in &st.params {
            let recorded: Vec<(&String, &serde_json::Value)> = locked
                .map(|l| {
                    l.params
                        .iter()
                        .filter(|(f, k, _)| f == file && (key.is_empty() || k == key))
                        .map(|(_, k, v)| (k, v))
                        .collect()
                })
                .unwrap_or_default();
            // A whole file (`- p.json:`): DVC reruns the stage when any key changes, one added included, so
            // the step reads the file as an input; its recorded version is the file's when the keys and values
            // in it are those dvc.lock recorded, and unknown (stale) otherwise.
            if key.is_empty() {
                if deps.iter().any(|d: &PathRecord| &d.path == file) {
                    continue;
                }
                // Compared as JSON values, nulls included (a key added as `null` is a change for DVC).
                let locked_map: serde_json::Map<String, serde_json::Value> = recorded
                    .iter()
                    .map(|(k, v)| ((*k).clone(), (*v).clone()))
                    .collect();
                let now = crate::fsutil::read_own(&repo.abs(file))?
                    .and_then(|d| String::from_utf8(d).ok())
                    .and_then(|t| crate::steps::params_as_json(file, &t).ok());
                let node = if locked.is_some() && now == Some(serde_json::Value::Object(locked_map))
                {
                    crate::ops::run::fingerprint(repo, store, file, layout)?
                        .map(|n| NodeRecord::of(&n))
                } else {
                    notes.push(format!(
                        "parameters: {file} differs from what dvc.lock recorded of it"
                    ));
                    None
                };
                deps.push(PathRecord {
                    path: file.clone(),
                    node,
                });
                continue;
            }
            if let Err(why) = check_param_key(key) {
                notes.push(format!("parameter {file}:{key} left out: {why}"));
                continue;
            }
            params.push(Param {
                file: file.clone(),
                key: key.clone(),
                value: recorded
                    .first()
                    .and_then(|(_, v)| json_to_toml((*v).clone())),
            });
        }
        let mut outs = Vec::new();
        for (o, cached) in &st.outs {
            if !cached {
                notes.push(format!(
                    "output '{o}' is kept in Git (`cache: false`): not a step output (dv steps write only data \
                     dv versions)"
                ));
                continue;
            }
            let rec = locked.and_then(|l| l.outs.iter().find(|x| &x.path == o));
            let node = match (rec.and_then(|r| r.md5.as_ref()), nodes.get(o)) {
                (Some(m), Some((md5, n))) if m == md5 => Some(NodeRecord::of(n)),
                _ => None,
            };
            outs.push(PathRecord {
                path: o.clone(),
                node,
            });
        }
        if outs.is_empty() {
            let mut why = String::from("it has no output DVC caches (a dv step needs one)");
            for n in &notes {
                why.push_str("; ");
                why.push_str(n);
            }
            skip(report, why);
            continue;
        }
        let step = Step {
            name: name.clone(),
            command: shell_command(&st.cmd, yaml, &st.name),
            workdir: st.wdir.clone(),
            deps,
            params,
            outs,
            // The run was DVC's, at a commit dvc.lock does not say (the migration's HEAD would make two
            // branches that each migrated conflict over it).
            run: locked.map(|l| RunRecord {
                command: shell_command(&l.cmd, yaml, &l.name),
                git_commit: None,
                dv_version: env!("CARGO_PKG_VERSION").to_string(),
                platform: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
                exit_status: 0,
                duration_ms: 0,
            }),
            layout,
        };
        let file = Step::file_path(&step.name);
        let text = step.encode();
        // What dv writes must be what dv reads: the step file is checked as any other is.
        let step = Step::decode(&step.name, text.as_bytes(), &file)
            .map_err(|e| Error::Internal(format!("stage '{}' as a step: {e}", st.name)))?;
        let state = crate::ops::run::step_state(repo, store, &step)?;
        notes.extend(state.reasons.iter().cloned());
        if !opts.dry_run {
            crate::paths::check_no_linked_parents(&repo.root, &file)?;
            let dir = repo.abs(STEPS_DIR);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            repo.write_file(&repo.abs(&file), text.as_bytes())?;
            staging.also(file.clone());
        }
        report.steps.push(MigratedStep {
            name: step.name.clone(),
            file,
            from: yaml.to_string(),
            state: state.state,
            notes,
        });
    }
    Ok(())
}

/// Whether the file at `abs` has MD5 `hex` as DVC computes it (of its bytes, or DVC 2's CRLF→LF one).
fn file_md5_is(abs: &std::path::Path, hex: &str) -> Result<bool> {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(abs) else {
        return Ok(false);
    };
    let mut h = super::objects::Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(abs, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let (plain, unix) = h.finish();
    Ok(plain == hex || unix.as_deref() == Some(hex))
}
