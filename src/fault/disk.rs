//! Disk fill: a file of zeros written on this host for the fault's duration.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::io::AsyncWriteExt as _;

use super::kubernetes::lock;
use super::{BuildFault, Fault, FaultContext, FaultError, Intent, local_platform};
use crate::platform::Platform;
use crate::spec;

/// Writes the file at injection and removes it at revert.
#[derive(Debug)]
pub struct DiskFillFault {
    spec: spec::DiskFill,
    path: PathBuf,
    /// Whether the file is firedrill's to remove: it was written by this fault.
    written: Mutex<bool>,
}

impl DiskFillFault {
    /// A disk-fill fault whose relative path is taken from `base` (the experiment's folder).
    pub fn new(spec: spec::DiskFill, base: &Path) -> Self {
        let path = base.join(&spec.path);
        Self {
            spec,
            path,
            written: Mutex::new(false),
        }
    }

    fn io(&self, what: &str, e: &std::io::Error) -> FaultError {
        FaultError::Unsafe {
            fault: self.spec.name.clone(),
            message: format!("cannot {what} {}: {e}", self.path.display()),
        }
    }
}

#[async_trait]
impl Fault for DiskFillFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        // Never overwrite, and so never remove, a file that is not firedrill's.
        if self.path.exists() {
            return Err(FaultError::Unsafe {
                fault: self.spec.name.clone(),
                message: format!("{} exists already", self.path.display()),
            });
        }
        Ok(Intent {
            fault: self.spec.name.clone(),
            fault_type: "disk-fill".into(),
            changes: vec![format!(
                "write {} MiB to {}",
                self.spec.size_mib,
                self.path.display()
            )],
            undo: vec![format!("remove {}", self.path.display())],
            targets: vec![self.path.display().to_string()],
            restore: Vec::new(),
            pool: None,
            writes: Vec::new(),
        })
    }

    async fn inject(&self) -> Result<(), FaultError> {
        // create_new: a file that appeared since `plan` is not firedrill's to fill or remove.
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.path)
            .await
            .map_err(|e| self.io("create", &e))?;
        *lock(&self.written) = true;
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..self.spec.size_mib {
            file.write_all(&chunk)
                .await
                .map_err(|e| self.io("write", &e))?;
        }
        file.sync_all().await.map_err(|e| self.io("write", &e))
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        if !std::mem::take(&mut *lock(&self.written)) {
            return Ok(Vec::new());
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(vec![format!("removed {}", self.path.display())]),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(self.io("remove", &e)),
        }
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }
}

impl BuildFault for spec::DiskFill {
    fn build(
        &self,
        platform: &Platform,
        _ctx: &FaultContext,
    ) -> Result<Arc<dyn Fault>, FaultError> {
        let local = local_platform(self, platform)?;
        Ok(Arc::new(DiskFillFault::new(
            self.clone(),
            local.experiment_dir(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_file_is_written_then_removed_once() {
        let dir = tempfile::tempdir().unwrap();
        let spec: spec::DiskFill =
            serde_saphyr::from_str("{name: full, path: filler, sizeMib: 2, duration: 1s}").unwrap();
        let fault = DiskFillFault::new(spec, dir.path());
        fault.plan().await.unwrap();
        fault.inject().await.unwrap();
        let file = dir.path().join("filler");
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 2 << 20);
        assert_eq!(fault.revert().await.unwrap().len(), 1);
        assert!(!file.exists());
        assert!(
            fault.revert().await.unwrap().is_empty(),
            "a second revert does nothing"
        );
    }

    #[tokio::test]
    async fn a_file_that_exists_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine"), "keep").unwrap();
        let spec: spec::DiskFill =
            serde_saphyr::from_str("{name: full, path: mine, sizeMib: 1, duration: 1s}").unwrap();
        let fault = DiskFillFault::new(spec, dir.path());
        assert!(fault.plan().await.is_err());
        assert!(fault.inject().await.is_err());
        assert!(fault.revert().await.unwrap().is_empty());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("mine")).unwrap(),
            "keep"
        );
    }
}
