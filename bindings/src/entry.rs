//! The entry point: state directory, logging, opening and creating repositories.

use std::path::PathBuf;
use std::sync::{Arc, Once};

use chatvault_core as core;
use chatvault_core::storage::LocalStorage;

use crate::callbacks::{
    DestinationResolver, LogAdapter, Logger, SecretStore, Storage, StorageAdapter,
};
use crate::error::Result;
use crate::repository::Repository;
use crate::schedule::Scheduler;

static LOGGING: Once = Once::new();

/// The library's entry point. Create one per app, with its private state directory.
#[derive(uniffi::Object)]
pub struct ChatVault {
    state_dir: PathBuf,
}

fn platform_logger() -> Option<Box<dyn log::Log>> {
    #[cfg(target_os = "android")]
    {
        android_logger::init_once(
            android_logger::Config::default()
                .with_max_level(log::LevelFilter::Info)
                .with_tag("ChatVault"),
        );
        None
    }
    #[cfg(any(target_os = "ios", target_os = "macos"))]
    {
        Some(Box::new(
            oslog::OsLogger::new("org.chatvault").level_filter(log::LevelFilter::Info),
        ))
    }
    #[cfg(not(any(target_os = "android", target_os = "ios", target_os = "macos")))]
    {
        None
    }
}

#[uniffi::export]
impl ChatVault {
    /// Sets up the library. `state_dir` holds the scheduler's database; `logger` receives
    /// log lines (by default they go to logcat on Android and os_log on Apple platforms).
    #[uniffi::constructor]
    pub fn new(state_dir: String, logger: Option<Arc<dyn Logger>>) -> Arc<Self> {
        LOGGING.call_once(|| {
            let installed = match logger {
                Some(l) => log::set_boxed_logger(Box::new(LogAdapter(l))).is_ok(),
                None => platform_logger().is_some_and(|l| log::set_boxed_logger(l).is_ok()),
            };
            if installed {
                log::set_max_level(log::LevelFilter::Info);
            }
        });
        Arc::new(ChatVault {
            state_dir: state_dir.into(),
        })
    }

    /// Opens the repository in a local folder (app storage, SD card, USB drive) with a
    /// password or the recovery key.
    pub fn open_local(&self, path: String, password: String) -> Result<Arc<Repository>> {
        Repository::wrap(
            self.state_dir.join("tmp"),
            core::Repository::open(
                Arc::new(LocalStorage::new(path)),
                &core::Secret::password(password),
            )?,
        )
    }

    /// Creates a repository in a local folder. Show the recovery key from
    /// `Repository.newRecoveryKey()` to the user right after.
    pub fn create_local(&self, path: String, password: String) -> Result<Arc<Repository>> {
        Repository::wrap(
            self.state_dir.join("tmp"),
            core::Repository::init(
                Arc::new(LocalStorage::new(path)),
                &password,
                &core::InitOptions::default(),
            )?
            .0,
        )
    }

    /// Opens a repository in storage the app provides (SAF, iCloud Drive, …).
    pub fn open_storage(
        &self,
        storage: Arc<dyn Storage>,
        password: String,
    ) -> Result<Arc<Repository>> {
        Repository::wrap(
            self.state_dir.join("tmp"),
            core::Repository::open(
                Arc::new(StorageAdapter(storage)),
                &core::Secret::password(password),
            )?,
        )
    }

    /// Creates a repository in storage the app provides.
    pub fn create_storage(
        &self,
        storage: Arc<dyn Storage>,
        password: String,
    ) -> Result<Arc<Repository>> {
        Repository::wrap(
            self.state_dir.join("tmp"),
            core::Repository::init(
                Arc::new(StorageAdapter(storage)),
                &password,
                &core::InitOptions::default(),
            )?
            .0,
        )
    }

    /// Opens a repository in S3-compatible storage (`s3://BUCKET/PREFIX?endpoint=…`), on a
    /// WebDAV server (`webdav+https://HOST/PATH`) or on a paired PC (`lan://…` from
    /// `pairLanUri`/`pairLanCode`), with credentials from the keystore.
    pub fn open_remote(
        &self,
        location: String,
        access: RemoteAccess,
        password: String,
    ) -> Result<Arc<Repository>> {
        let storage =
            core::storage::open(&location, &access.try_into()?).map_err(core::Error::from)?;
        Repository::wrap(
            self.state_dir.join("tmp"),
            core::Repository::open(storage, &core::Secret::password(password))?,
        )
    }

    /// Creates a repository in S3-compatible storage, on a WebDAV server (the bucket must
    /// exist; WebDAV collections are created) or on a paired PC.
    pub fn create_remote(
        &self,
        location: String,
        access: RemoteAccess,
        password: String,
    ) -> Result<Arc<Repository>> {
        let storage =
            core::storage::open(&location, &access.try_into()?).map_err(core::Error::from)?;
        Repository::wrap(
            self.state_dir.join("tmp"),
            core::Repository::init(storage, &password, &core::InitOptions::default())?.0,
        )
    }

    /// The backup scheduler, with plan passwords kept in `secrets` (the platform keystore)
    /// and plan destinations opened through `destinations` (folders the user picked, network
    /// credentials); without it, destinations are paths, or network locations with
    /// credentials from the environment.
    pub fn scheduler(
        &self,
        secrets: Arc<dyn SecretStore>,
        destinations: Option<Arc<dyn DestinationResolver>>,
    ) -> Result<Arc<Scheduler>> {
        Scheduler::open(&self.state_dir.join("schedule.db"), secrets, destinations)
    }
}

/// Credentials for network storage, from the platform keystore. Never stored by the library.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct RemoteAccess {
    /// S3 access key id.
    #[uniffi(default = None)]
    pub s3_access_key: Option<String>,
    /// S3 secret access key.
    #[uniffi(default = None)]
    pub s3_secret_key: Option<String>,
    /// WebDAV user name.
    #[uniffi(default = None)]
    pub webdav_user: Option<String>,
    /// WebDAV password or app token.
    #[uniffi(default = None)]
    pub webdav_password: Option<String>,
    /// PEM text of a self-hosted server's CA certificate.
    #[uniffi(default = None)]
    pub ca_pem: Option<String>,
    /// Allow plain http to a host other than this device (a trusted home network).
    #[uniffi(default = false)]
    pub allow_http: bool,
    /// This device's LAN identity (from `newLanIdentity`, kept in the keystore), for
    /// `lan://` locations.
    #[uniffi(default = None)]
    pub lan_identity_pem: Option<String>,
}

impl TryFrom<RemoteAccess> for core::storage::Access {
    type Error = crate::error::ChatVaultError;

    fn try_from(a: RemoteAccess) -> Result<Self> {
        Ok(core::storage::Access {
            s3_access_key: a.s3_access_key,
            s3_secret_key: a.s3_secret_key,
            webdav_user: a.webdav_user,
            webdav_password: a.webdav_password,
            ca_pem: a.ca_pem.map(String::into_bytes),
            allow_http: a.allow_http,
            lan_identity: a
                .lan_identity_pem
                .map(|pem| core::lan::Identity::from_pem(&pem))
                .transpose()?,
            lan_retry_for: None,
        })
    }
}
