//! The repository of the embedded server: distributions, their software
//! modules and artifacts, and the catalog of the artifacts' contents.

use crate::artifact::Catalog;
use crate::time::Time;

use super::{ArtifactSpec, DistributionId, DistributionSpec};

/// A software module as stored: ids are global, counted from 1.
#[derive(Debug)]
pub(super) struct Module {
    pub(super) id: u64,
    pub(super) part: String,
    pub(super) name: String,
    pub(super) version: String,
    pub(super) artifacts: Vec<ArtifactSpec>,
    /// Management API view: artifact ids (parallel to `artifacts`), vendor, creation.
    pub(super) artifact_ids: Vec<u64>,
    pub(super) vendor: Option<String>,
    pub(super) created_at: Time,
    /// Management API metadata `(key, value, targetVisible)`, by key; the
    /// DDI chunk lists the visible ones (DataConversionHelper `createChunks`).
    pub(super) metadata: Vec<(String, String, bool)>,
}

/// A distribution set: the ids of its modules, and its name for the Management API.
#[derive(Debug)]
pub(super) struct Distribution {
    pub(super) modules: Vec<u64>,
    pub(super) name: String,
    pub(super) version: String,
    /// Distribution set type key (`os`, `os_app`, `app`).
    pub(super) kind: String,
    pub(super) created_at: Time,
    /// hawkBit `requiredMigrationStep`: a new assignment does not supersede
    /// an open action of this set (`overrideObsoleteUpdateActions`).
    pub(super) required_migration_step: bool,
}

/// Distributions, modules and the catalog of their contents.
#[derive(Debug, Default)]
pub(super) struct Repo {
    pub(super) catalog: Catalog,
    pub(super) distributions: Vec<Distribution>,
    pub(super) modules: Vec<Module>,
    /// Artifacts ever added (their ids count from 1).
    pub(super) artifacts_added: u64,
}

impl Repo {
    pub(super) fn add_distribution(&mut self, spec: DistributionSpec) -> DistributionId {
        let mut ids = Vec::with_capacity(spec.modules.len());
        for m in spec.modules {
            for a in &m.artifacts {
                self.catalog.register(a.content, a.size);
            }
            let id = self.modules.len() as u64 + 1;
            let first = self.artifacts_added + 1;
            self.artifacts_added += m.artifacts.len() as u64;
            self.modules.push(Module {
                id,
                part: m.part,
                name: m.name,
                version: m.version,
                artifact_ids: (first..=self.artifacts_added).collect(),
                artifacts: m.artifacts,
                vendor: None,
                created_at: Time::ZERO,
                metadata: Vec::new(),
            });
            ids.push(id);
        }
        self.distributions.push(Distribution {
            modules: ids,
            name: spec.name,
            version: spec.version,
            kind: "os_app".to_string(),
            created_at: Time::ZERO,
            required_migration_step: false,
        });
        DistributionId(self.distributions.len() as u64)
    }

    pub(super) fn distribution(&self, id: DistributionId) -> Option<&Distribution> {
        let index = usize::try_from(id.0.checked_sub(1)?).ok()?;
        self.distributions.get(index)
    }

    /// The set named `name` with version `version` (DDI `PUT installedBase`).
    pub(super) fn find(&self, name: &str, version: &str) -> Option<DistributionId> {
        let i = self
            .distributions
            .iter()
            .position(|d| d.name == name && d.version == version)?;
        Some(DistributionId(i as u64 + 1))
    }

    /// True for a set marked `requiredMigrationStep`.
    pub(super) fn is_migration_step(&self, id: DistributionId) -> bool {
        self.distribution(id)
            .is_some_and(|d| d.required_migration_step)
    }

    pub(super) fn module(&self, id: u64) -> Option<&Module> {
        let index = usize::try_from(id.checked_sub(1)?).ok()?;
        self.modules.get(index)
    }

    /// Modules of `dist`, in order; empty for an unknown distribution.
    pub(super) fn modules_of(&self, dist: DistributionId) -> impl Iterator<Item = &Module> {
        self.distribution(dist)
            .map(|d| d.modules.as_slice())
            .unwrap_or(&[])
            .iter()
            .filter_map(|id| self.module(*id))
    }

    pub(super) fn contains(&self, dist: DistributionId, module: u64) -> bool {
        self.distribution(dist)
            .is_some_and(|d| d.modules.contains(&module))
    }
}
