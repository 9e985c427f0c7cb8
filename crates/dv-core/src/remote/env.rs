//! [`RemoteEnv`]: what a cloud remote takes from outside the repository, resolved in one place. Every front
//! end builds it with [`RemoteEnv::from_vars`] (the CLI from the process's environment and `HOME`), so all of
//! them resolve credentials the same way; an embedder may build it from anything else, or leave it empty.
//! The core never reads the environment itself, and never calls object_store's `from_env` builders (which
//! do): the `*_options` methods here are their equivalents over these variables.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Variables whose names start with one of these are kept: the ones object_store's `from_env` builders read
/// (`AWS_*`, `GOOGLE_*`, `AZURE_*`), which include dv's own `AWS_PROFILE`, `AWS_SHARED_CREDENTIALS_FILE` and
/// `AWS_CONFIG_FILE`.
const PREFIXES: &[&str] = &["AWS_", "GOOGLE_", "AZURE_"];
/// ...and these two, which the GCS and Azure `from_env` builders read besides.
const NAMES: &[&str] = &[GCS_SERVICE_ACCOUNT, AZURE_MSI_ENDPOINT];
/// GCS: the service account file (an alias of `GOOGLE_SERVICE_ACCOUNT`, which wins when both are set).
const GCS_SERVICE_ACCOUNT: &str = "SERVICE_ACCOUNT";
/// Azure: the managed identity endpoint.
const AZURE_MSI_ENDPOINT: &str = "IDENTITY_ENDPOINT";

/// The environment of cloud remotes: the variables that configure them and the home folder (where the AWS
/// profile files are). Its `Debug` shows the variables' names, never their values (secrets).
#[derive(Clone, Default)]
pub struct RemoteEnv {
    vars: BTreeMap<String, OsString>,
    home: Option<PathBuf>,
}

impl std::fmt::Debug for RemoteEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEnv")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("home", &self.home)
            .finish()
    }
}

impl RemoteEnv {
    /// The one resolution of a cloud remote's environment: from `vars` (as the process's `vars_os` gives them)
    /// it keeps the variables cloud remotes use (`AWS_*`, `GOOGLE_*`, `AZURE_*`, `SERVICE_ACCOUNT`,
    /// `IDENTITY_ENDPOINT`) and drops the rest; `home` is where `~/.aws/credentials` and `~/.aws/config` are
    /// looked for (unless `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE` say otherwise). A variable
    /// whose name is not UTF-8 is dropped; one whose value is not UTF-8 is passed to no backend (as
    /// object_store's `from_env` does), though it may name a file.
    pub fn from_vars<K, V>(
        vars: impl IntoIterator<Item = (K, V)>,
        home: Option<PathBuf>,
    ) -> RemoteEnv
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let vars = vars
            .into_iter()
            .filter_map(|(k, v)| Some((k.into().into_string().ok()?, v.into())))
            .filter(|(k, _)| {
                PREFIXES.iter().any(|p| k.starts_with(p)) || NAMES.contains(&k.as_str())
            })
            .collect();
        RemoteEnv { vars, home }
    }

    /// Sets one variable, whatever its name (for an embedder that passes credentials by hand).
    pub fn set_var(&mut self, name: impl Into<String>, value: impl Into<OsString>) {
        self.vars.insert(name.into(), value.into());
    }

    /// A variable's value, if it is set and UTF-8.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name)?.to_str()
    }

    /// The home folder, if one was given.
    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }

    /// The AWS profile the environment names (`AWS_PROFILE`), used when a remote names none.
    pub fn aws_profile(&self) -> Option<&str> {
        self.var("AWS_PROFILE")
    }

    /// The UTF-8 variables whose names start with `prefix`, as (lower-case name, value): the form
    /// object_store's config keys parse.
    fn options(&self, prefix: &str) -> impl Iterator<Item = (String, &str)> {
        self.vars.iter().filter_map(move |(k, v)| {
            k.starts_with(prefix)
                .then(|| Some((k.to_ascii_lowercase(), v.to_str()?)))?
        })
    }

    /// The S3 settings of the `AWS_*` variables (`aws_endpoint_url`, `aws_region`, keys, ...): those
    /// `AmazonS3Builder::from_env` would take.
    pub(crate) fn s3_options(&self) -> Vec<(String, String)> {
        use object_store::aws::AmazonS3ConfigKey;
        self.options("AWS_")
            .filter(|(k, _)| k["aws_".len()..].parse::<AmazonS3ConfigKey>().is_ok())
            .map(|(k, v)| (k, v.to_string()))
            .collect()
    }

    /// A GCS builder set up as `GoogleCloudStorageBuilder::from_env` would set it up, from these variables.
    pub(crate) fn gcs_builder(&self) -> object_store::gcp::GoogleCloudStorageBuilder {
        use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
        let mut b = GoogleCloudStorageBuilder::new();
        if let Some(path) = self.var(GCS_SERVICE_ACCOUNT) {
            b = b.with_service_account_path(path);
        }
        for (k, v) in self.options("GOOGLE_") {
            if let Ok(key) = k.parse::<GoogleConfigKey>() {
                b = b.with_config(key, v);
            }
        }
        // The application default credentials under the home folder given, named here so that object_store
        // does not look under the process's own (it reads them only when no other credentials are set).
        if b.get_config_value(&GoogleConfigKey::ApplicationCredentials)
            .is_none()
            && let Some(adc) = self.gcs_default_credentials()
        {
            b = b.with_application_credentials(adc);
        }
        b
    }

    /// `~/.config/gcloud/application_default_credentials.json`, where gcloud writes them, if it is there
    /// (and a UTF-8 path, as object_store takes it).
    fn gcs_default_credentials(&self) -> Option<String> {
        let path = self
            .home
            .as_ref()?
            .join(".config/gcloud/application_default_credentials.json");
        (!cfg!(windows) && path.exists())
            .then(|| path.into_os_string().into_string().ok())
            .flatten()
    }

    /// An Azure builder set up as `MicrosoftAzureBuilder::from_env` would set it up, from these variables.
    pub(crate) fn azure_builder(&self) -> object_store::azure::MicrosoftAzureBuilder {
        use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
        let mut b = MicrosoftAzureBuilder::new();
        for (k, v) in self.options("AZURE_") {
            if let Ok(key) = k.parse::<AzureConfigKey>() {
                b = b.with_config(key, v);
            }
        }
        if let Some(endpoint) = self.var(AZURE_MSI_ENDPOINT) {
            b = b.with_msi_endpoint(endpoint);
        }
        b
    }

    /// A file the AWS tools find through variable `var`, or at `~/.aws/NAME`.
    pub(super) fn aws_file(&self, var: &str, name: &str) -> Option<PathBuf> {
        self.vars
            .get(var)
            .map(PathBuf::from)
            .or_else(|| self.home.as_ref().map(|h| h.join(".aws").join(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_clouds_variables_are_kept_and_never_shown() {
        let env = RemoteEnv::from_vars(
            [
                ("AWS_REGION", "eu-west-1"),
                ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
                ("AWS_PROFILE", "work"),
                ("AWS_NOT_A_SETTING", "x"),
                ("GOOGLE_BUCKET", "b"),
                ("AZURE_STORAGE_ACCOUNT_NAME", "acct"),
                ("SERVICE_ACCOUNT", "/sa.json"),
                ("IDENTITY_ENDPOINT", "http://127.0.0.1:1"),
                ("PATH", "/bin"),
                ("GITHUB_TOKEN", "ghp_x"),
            ],
            Some(PathBuf::from("/home/u")),
        );
        assert_eq!(env.var("PATH"), None);
        assert_eq!(env.var("GITHUB_TOKEN"), None);
        assert_eq!(env.aws_profile(), Some("work"));
        assert_eq!(env.var("SERVICE_ACCOUNT"), Some("/sa.json"));
        // Only what the S3 builder knows, as it names it.
        assert_eq!(
            env.s3_options(),
            vec![
                ("aws_region".to_string(), "eu-west-1".to_string()),
                ("aws_secret_access_key".to_string(), "s3cr3t".to_string()),
            ]
        );
        let shown = format!("{env:?}");
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(
            env.aws_file("AWS_CONFIG_FILE", "config"),
            Some(PathBuf::from("/home/u/.aws/config"))
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_variable_that_is_not_utf8_is_passed_to_no_backend() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![b'/', 0xff]);
        let env = RemoteEnv::from_vars(
            [
                (OsString::from("AWS_REGION"), bad.clone()),
                (
                    OsString::from_vec(vec![b'A', b'W', b'S', b'_', 0xff]),
                    "x".into(),
                ),
                (OsString::from("AWS_CONFIG_FILE"), bad.clone()),
            ],
            None,
        );
        assert!(env.s3_options().is_empty());
        assert_eq!(env.var("AWS_REGION"), None);
        // A file name need not be UTF-8.
        assert_eq!(
            env.aws_file("AWS_CONFIG_FILE", "config"),
            Some(PathBuf::from(bad))
        );
    }
}
