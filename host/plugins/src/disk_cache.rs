//! Precompiled components on disk, so a restart does not compile every plugin
//! again (compiling is seconds per component; a 19 MB Python component takes
//! about 25 s, loading its precompiled form a fraction of that).
//!
//! Files are named `ENGINE-COMPONENT.cwasm`: ENGINE is a digest of wasmtime's
//! `precompile_compatibility_hash` (a new wasmtime or other engine settings make
//! new names, and old files are simply not found), COMPONENT the SHA-256 of the
//! component's bytes. Loading precompiled code is `unsafe` in wasmtime: it trusts
//! the file. So only the server writes here, into a 0700 directory it created in
//! its own data directory, each file 0600 and renamed into place whole; a file
//! that does not load is deleted and the component compiled again.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// A cache directory bound to one engine's compatibility hash.
#[derive(Clone, Debug)]
pub struct DiskCache {
    dir: PathBuf,
    engine_key: String,
}

impl DiskCache {
    /// Creates `dir` (0700) if needed.
    pub fn open(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        // The compatibility hash is a `Hash` value, not bytes: fold it with the
        // standard hasher, which is fixed within one build (and a new build
        // changes the hash anyway).
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{}-{sha256}.cwasm", self.engine_key))
    }

    /// The precompiled component, if this server wrote one for these bytes.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `store` below, by this server, into
        // its private directory; see the module comment.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(
                    "precompiled plugin {} is unusable ({e}); compiling again",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Writes the precompiled form of `component`; failures are logged, never
    /// fatal (the cache only saves time).
    pub fn store(&self, component: &Component, sha256: &str) {
        let path = self.path(sha256);
        let result = (|| -> anyhow::Result<()> {
            let bytes = component.serialize()?;
            let temporary = self
                .dir
                .join(format!(".{sha256}.{}.tmp", std::process::id()));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(
                "could not keep the precompiled plugin {}: {e:#}",
                path.display()
            );
        }
    }
}
