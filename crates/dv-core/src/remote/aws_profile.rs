//! The AWS profile of an S3 remote: its credentials, region and endpoint, read from the AWS tools' shared files.
//! The INI reading is dv's own: no crate in Cargo.lock reads this dialect (gix-config's Git syntax rejects
//! `[profile NAME]` and `_` in keys), and general INI crates (rust-ini) unquote and unescape values by default,
//! which the AWS tools do not.

use super::RemoteEnv;

impl RemoteEnv {
    /// Credentials and region of an AWS profile, from the shared credentials and config files
    /// (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`, or `~/.aws/credentials` and `~/.aws/config`), as S3
    /// settings.
    pub(crate) fn aws_profile_settings(
        &self,
        profile: &str,
    ) -> std::result::Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        let mut found = false;
        for (path, section) in [
            (
                self.aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
                profile.to_string(),
            ),
            (
                self.aws_file("AWS_CONFIG_FILE", "config"),
                if profile == "default" {
                    "default".to_string()
                } else {
                    format!("profile {profile}")
                },
            ),
        ] {
            let Some(path) = path else { continue };
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("{}: {e}", path.display())),
            };
            if let Some(values) = ini_section(&text, &section) {
                found = true;
                for (k, v) in values {
                    let key = match k.as_str() {
                        "aws_access_key_id" | "aws_secret_access_key" | "aws_session_token" => k,
                        "region" => "aws_region".to_string(),
                        "endpoint_url" => "aws_endpoint".to_string(),
                        _ => continue,
                    };
                    out.push((key, v));
                }
            }
        }
        if !found {
            return Err(format!(
                "AWS profile {profile:?} is not in ~/.aws/credentials or ~/.aws/config"
            ));
        }
        Ok(out)
    }
}

/// The `key = value` pairs of one `[section]` of an INI file.
fn ini_section(text: &str, section: &str) -> Option<Vec<(String, String)>> {
    let mut current: Option<&str> = None;
    let mut out: Option<Vec<(String, String)>> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim());
            if current == Some(section) {
                out.get_or_insert_with(Vec::new);
            }
            continue;
        }
        if current == Some(section)
            && let Some((k, v)) = line.split_once('=')
        {
            out.get_or_insert_with(Vec::new)
                .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_are_read() {
        let text = "[default]\naws_access_key_id = A\n\n[other]\n# comment\naws_access_key_id=B\nregion = eu\n";
        assert_eq!(
            ini_section(text, "other").unwrap(),
            vec![
                ("aws_access_key_id".to_string(), "B".to_string()),
                ("region".to_string(), "eu".to_string())
            ]
        );
        assert!(ini_section(text, "missing").is_none());
    }
}
