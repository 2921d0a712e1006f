//! The dependency graph: every object the collector has observed, by uid, with its
//! owner references and the uids of its dependents. Pure: an observed object (or its
//! deletion) goes in, the work it makes necessary comes out. An owner that is referenced
//! but not (or no longer) observed is a *virtual* node: it exists to hold its dependents.

use std::collections::{BTreeSet, HashMap};

use clipper_proto::api::meta::v1::{ObjectMeta, OwnerReference};

/// The finalizer of an object deleted with propagationPolicy Foreground.
pub const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer of an object deleted with propagationPolicy Orphan.
pub const ORPHAN: &str = "orphan";

pub type Uid = String;

/// Where an object is: enough to GET, PATCH or DELETE it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub api_version: String,
    pub kind: String,
    /// `None` for cluster-scoped objects (for a virtual owner: the namespace of the
    /// dependent that named it, whatever the owner's scope turns out to be).
    pub namespace: Option<String>,
    pub name: String,
    pub uid: Uid,
}

/// What the collector keeps of an observed object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectInfo {
    pub identity: Identity,
    pub owners: Vec<OwnerReference>,
    /// deletionTimestamp is set.
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

impl ObjectInfo {
    /// `None` for an object without a name or uid (nothing the server stores).
    pub fn from_meta(api_version: &str, kind: &str, meta: &ObjectMeta) -> Option<ObjectInfo> {
        Some(ObjectInfo {
            identity: Identity {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                namespace: meta.namespace.clone().filter(|n| !n.is_empty()),
                name: meta.name.clone().filter(|n| !n.is_empty())?,
                uid: meta.uid.clone().filter(|u| !u.is_empty())?,
            },
            owners: meta.owner_references.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
        })
    }

    fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// Being deleted in the foreground: waits for its blocking dependents.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FOREGROUND)
    }

    /// Being deleted with its dependents orphaned.
    pub fn orphaning(&self) -> bool {
        self.deleting && self.has_finalizer(ORPHAN)
    }
}

/// A unit of work for the collector's workers, keyed by the uid it is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Work {
    /// Look at this object: delete it if its owners are gone, drop references to
    /// owners that are, or — if it is being deleted in the foreground — see whether
    /// its blocking dependents are gone.
    AttemptToDelete(Uid),
    /// This owner is being deleted with Orphan: remove its references from its
    /// dependents, then its `orphan` finalizer.
    AttemptToOrphan(Uid),
}

#[derive(Clone, Debug)]
struct Node {
    identity: Identity,
    /// Seen through a watch (not only named by a dependent's owner reference).
    observed: bool,
    owners: Vec<OwnerReference>,
    deleting: bool,
    deleting_dependents: bool,
    orphaning: bool,
    dependents: BTreeSet<Uid>,
}

/// A node as the workers see it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub identity: Identity,
    pub observed: bool,
    pub deleting: bool,
    pub deleting_dependents: bool,
    pub dependents: usize,
}

/// A dependent whose reference to its owner blocks the owner's foreground deletion.
#[derive(Clone, Debug, PartialEq)]
pub struct Blocking {
    pub uid: Uid,
    pub deleting_dependents: bool,
}

/// The graph (owner → dependents, by uid).
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<Uid, Node>,
}

fn blocks(r: &OwnerReference) -> bool {
    r.block_owner_deletion == Some(true)
}

impl Graph {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn view(&self, uid: &str) -> Option<NodeView> {
        self.nodes.get(uid).map(|n| NodeView {
            identity: n.identity.clone(),
            observed: n.observed,
            deleting: n.deleting,
            deleting_dependents: n.deleting_dependents,
            dependents: n.dependents.len(),
        })
    }

    /// The dependents of `uid`, as observed.
    pub fn dependents(&self, uid: &str) -> Vec<Identity> {
        self.nodes.get(uid).map_or_else(Vec::new, |n| {
            n.dependents
                .iter()
                .filter_map(|d| self.nodes.get(d))
                .map(|d| d.identity.clone())
                .collect()
        })
    }

    /// Whether some dependent of `uid` is itself being deleted in the foreground.
    pub fn a_dependent_deletes_dependents(&self, uid: &str) -> bool {
        self.nodes.get(uid).is_some_and(|n| {
            n.dependents
                .iter()
                .filter_map(|d| self.nodes.get(d))
                .any(|d| d.deleting_dependents)
        })
    }

    /// The dependents of `uid` whose reference to it has blockOwnerDeletion.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<Blocking> {
        let Some(n) = self.nodes.get(uid) else {
            return Vec::new();
        };
        n.dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .filter(|d| d.owners.iter().any(|r| r.uid == uid && blocks(r)))
            .map(|d| Blocking {
                uid: d.identity.uid.clone(),
                deleting_dependents: d.deleting_dependents,
            })
            .collect()
    }

    /// Links `dependent` under the owner `r`, creating a virtual owner if it is not
    /// observed; returns whether the owner is virtual.
    fn link(&mut self, r: &OwnerReference, dependent: &Identity) -> bool {
        let owner = self.nodes.entry(r.uid.clone()).or_insert_with(|| Node {
            identity: Identity {
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
                namespace: dependent.namespace.clone(),
                name: r.name.clone(),
                uid: r.uid.clone(),
            },
            observed: false,
            owners: Vec::new(),
            deleting: false,
            deleting_dependents: false,
            orphaning: false,
            dependents: BTreeSet::new(),
        });
        owner.dependents.insert(dependent.uid.clone());
        !owner.observed
    }

    /// Unlinks `dependent` from the owner `owner_uid`; a virtual owner left without
    /// dependents goes. Returns whether the owner waits for its dependents.
    fn unlink(&mut self, owner_uid: &str, dependent: &str) -> bool {
        let Some(owner) = self.nodes.get_mut(owner_uid) else {
            return false;
        };
        owner.dependents.remove(dependent);
        let waiting = owner.deleting_dependents;
        if !owner.observed && owner.dependents.is_empty() {
            self.nodes.remove(owner_uid);
        }
        waiting
    }

    /// An object was added or changed (or confirmed by a relist).
    pub fn upsert(&mut self, info: ObjectInfo) -> Vec<Work> {
        let uid = info.identity.uid.clone();
        let mut work = Vec::new();
        let (old_owners, was_deleting_dependents, was_orphaning, identity_changed) =
            match self.nodes.get_mut(&uid) {
                Some(n) => {
                    let changed = !n.observed && n.identity != info.identity;
                    n.observed = true;
                    n.identity = info.identity.clone();
                    (
                        std::mem::take(&mut n.owners),
                        n.deleting_dependents,
                        n.orphaning,
                        changed,
                    )
                }
                None => {
                    self.nodes.insert(
                        uid.clone(),
                        Node {
                            identity: info.identity.clone(),
                            observed: true,
                            owners: Vec::new(),
                            deleting: false,
                            deleting_dependents: false,
                            orphaning: false,
                            dependents: BTreeSet::new(),
                        },
                    );
                    (Vec::new(), false, false, false)
                }
            };
        // A virtual owner whose observed coordinates differ from what its dependents
        // named: their references may point elsewhere; have them looked at.
        if identity_changed {
            for d in &self.nodes[&uid].dependents {
                work.push(Work::AttemptToDelete(d.clone()));
            }
        }
        // Owner references added, removed, or no longer blocking.
        let mut self_needs_look = false;
        for r in &info.owners {
            match old_owners.iter().find(|o| o.uid == r.uid) {
                None => self_needs_look |= self.link(r, &info.identity),
                Some(old) => {
                    if blocks(old)
                        && !blocks(r)
                        && self
                            .nodes
                            .get(&r.uid)
                            .is_some_and(|o| o.deleting_dependents)
                    {
                        work.push(Work::AttemptToDelete(r.uid.clone()));
                    }
                }
            }
        }
        for old in &old_owners {
            if !info.owners.iter().any(|r| r.uid == old.uid)
                && self.unlink(&old.uid, &uid)
                && blocks(old)
            {
                work.push(Work::AttemptToDelete(old.uid.clone()));
            }
        }
        // An owner that is not observed may be gone: the dependent's owners are checked
        // against the server.
        if self_needs_look {
            work.push(Work::AttemptToDelete(uid.clone()));
        }
        let node = self.nodes.get_mut(&uid).expect("inserted above");
        node.owners = info.owners.clone();
        node.deleting = info.deleting;
        node.deleting_dependents = info.deleting_dependents();
        node.orphaning = info.orphaning();
        if node.deleting_dependents && !was_deleting_dependents {
            for d in &node.dependents {
                work.push(Work::AttemptToDelete(d.clone()));
            }
            work.push(Work::AttemptToDelete(uid.clone()));
        }
        if node.orphaning && !was_orphaning {
            work.push(Work::AttemptToOrphan(uid));
        }
        work
    }

    /// An object was deleted (or a relist did not confirm it).
    pub fn remove(&mut self, uid: &str) -> Vec<Work> {
        let mut work = Vec::new();
        let Some(node) = self.nodes.remove(uid) else {
            return work;
        };
        if !node.observed {
            // Already virtual (a deletion seen twice): keep it for its dependents.
            self.nodes.insert(uid.to_string(), node);
            return work;
        }
        for r in &node.owners {
            if self.unlink(&r.uid, uid) {
                // An owner deleting in the foreground may now have no blocking dependent.
                work.push(Work::AttemptToDelete(r.uid.clone()));
            }
        }
        if !node.dependents.is_empty() {
            for d in &node.dependents {
                work.push(Work::AttemptToDelete(d.clone()));
            }
            // Kept as a virtual node: its dependents still name it.
            self.nodes.insert(
                uid.to_string(),
                Node {
                    observed: false,
                    owners: Vec::new(),
                    deleting: false,
                    deleting_dependents: false,
                    orphaning: false,
                    ..node
                },
            );
        }
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner_ref(uid: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: format!("cm-{uid}"),
            uid: uid.into(),
            block_owner_deletion: block.then_some(true),
            ..Default::default()
        }
    }

    fn obj(uid: &str, owners: &[(&str, bool)]) -> ObjectInfo {
        ObjectInfo {
            identity: Identity {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("ns".into()),
                name: format!("cm-{uid}"),
                uid: uid.into(),
            },
            owners: owners.iter().map(|(u, b)| owner_ref(u, *b)).collect(),
            deleting: false,
            finalizers: Vec::new(),
        }
    }

    fn deleting(mut o: ObjectInfo, finalizer: &str) -> ObjectInfo {
        o.deleting = true;
        o.finalizers = vec![finalizer.into()];
        o
    }

    fn del(uid: &str) -> Work {
        Work::AttemptToDelete(uid.into())
    }

    /// Applies `steps` in order and checks the work each produced.
    fn check(steps: Vec<(Step, Vec<Work>)>) -> Graph {
        let mut g = Graph::default();
        for (i, (step, want)) in steps.into_iter().enumerate() {
            let got = match step {
                Step::Upsert(o) => g.upsert(o),
                Step::Remove(u) => g.remove(u),
            };
            assert_eq!(got, want, "step {i}");
        }
        g
    }

    enum Step {
        Upsert(ObjectInfo),
        Remove(&'static str),
    }
    use Step::{Remove, Upsert};

    #[test]
    fn an_owner_seen_first_then_its_dependent() {
        let g = check(vec![
            (Upsert(obj("o", &[])), vec![]),
            (Upsert(obj("d", &[("o", true)])), vec![]),
        ]);
        assert_eq!(g.dependents("o").len(), 1);
        assert_eq!(g.blocking_dependents("o")[0].uid, "d");
    }

    #[test]
    fn a_dependent_of_an_unseen_owner_is_looked_at() {
        let g = check(vec![(Upsert(obj("d", &[("o", false)])), vec![del("d")])]);
        let o = g.view("o").unwrap();
        assert!(!o.observed);
        assert_eq!(o.identity.namespace.as_deref(), Some("ns"));
        // The owner shows up: nothing to do, the node becomes real.
        let mut g = g;
        assert_eq!(g.upsert(obj("o", &[])), vec![]);
        assert!(g.view("o").unwrap().observed);
    }

    #[test]
    fn background_an_owner_deleted_queues_its_dependents() {
        let mut g = check(vec![
            (Upsert(obj("o", &[])), vec![]),
            (Upsert(obj("d1", &[("o", false)])), vec![]),
            (Upsert(obj("d2", &[("o", true)])), vec![]),
            (Remove("o"), vec![del("d1"), del("d2")]),
        ]);
        // The owner stays as a virtual node while its dependents name it.
        assert!(!g.view("o").unwrap().observed);
        assert_eq!(g.remove("d1"), vec![]);
        assert_eq!(g.remove("d2"), vec![]);
        assert!(
            g.view("o").is_none(),
            "the virtual owner went with its last dependent"
        );
        assert!(g.is_empty());
    }

    #[test]
    fn foreground_the_owner_waits_for_blocking_dependents() {
        let mut g = check(vec![
            (Upsert(obj("o", &[])), vec![]),
            (Upsert(obj("d", &[("o", true)])), vec![]),
            (Upsert(obj("e", &[("o", false)])), vec![]),
            // Deleted with Foreground: its dependents, then itself.
            (
                Upsert(deleting(obj("o", &[]), FOREGROUND)),
                vec![del("d"), del("e"), del("o")],
            ),
            // Seen again: nothing new.
            (Upsert(deleting(obj("o", &[]), FOREGROUND)), vec![]),
        ]);
        assert_eq!(g.blocking_dependents("o").len(), 1);
        // Any dependent going wakes an owner deleting in the foreground (a cheap recheck).
        assert_eq!(g.remove("e"), vec![del("o")]);
        // The blocking dependent is itself deleted in the foreground, then goes.
        assert_eq!(
            g.upsert(deleting(obj("d", &[("o", true)]), FOREGROUND)),
            vec![del("d")]
        );
        assert!(g.a_dependent_deletes_dependents("o"));
        assert_eq!(g.remove("d"), vec![del("o")]);
        assert!(g.blocking_dependents("o").is_empty());
    }

    #[test]
    fn foreground_a_reference_removed_or_unblocked_wakes_the_owner() {
        let mut g = check(vec![
            (Upsert(obj("o", &[])), vec![]),
            (Upsert(obj("d", &[("o", true)])), vec![]),
            (Upsert(obj("e", &[("o", true)])), vec![]),
            (
                Upsert(deleting(obj("o", &[]), FOREGROUND)),
                vec![del("d"), del("e"), del("o")],
            ),
            // d drops its reference; e stops blocking.
            (Upsert(obj("d", &[])), vec![del("o")]),
            (Upsert(obj("e", &[("o", false)])), vec![del("o")]),
        ]);
        assert!(g.blocking_dependents("o").is_empty());
        assert_eq!(g.dependents("o").len(), 1);
        assert_eq!(g.remove("o"), vec![del("e")]);
    }

    #[test]
    fn orphan_queues_the_owner_once() {
        let g = check(vec![
            (Upsert(obj("o", &[])), vec![]),
            (Upsert(obj("d", &[("o", true)])), vec![]),
            (
                Upsert(deleting(obj("o", &[]), ORPHAN)),
                vec![Work::AttemptToOrphan("o".into())],
            ),
            (Upsert(deleting(obj("o", &[]), ORPHAN)), vec![]),
            // The collector removed the reference, then the finalizer; the owner goes.
            (Upsert(obj("d", &[])), vec![]),
            (Remove("o"), vec![]),
        ]);
        assert_eq!(g.len(), 1);
        assert!(g.dependents("d").is_empty());
    }

    #[test]
    fn already_deleting_at_first_sight() {
        // The collector starts (or relists) while deletions are pending.
        check(vec![
            (
                Upsert(deleting(obj("a", &[]), ORPHAN)),
                vec![Work::AttemptToOrphan("a".into())],
            ),
            (Upsert(deleting(obj("b", &[]), FOREGROUND)), vec![del("b")]),
        ]);
    }

    #[test]
    fn several_owners_one_gone() {
        let mut g = check(vec![
            (Upsert(obj("o1", &[])), vec![]),
            (Upsert(obj("o2", &[])), vec![]),
            (Upsert(obj("d", &[("o1", false), ("o2", false)])), vec![]),
            (Remove("o1"), vec![del("d")]),
        ]);
        // The collector drops the dangling reference.
        assert_eq!(g.upsert(obj("d", &[("o2", false)])), vec![]);
        assert!(g.view("o1").is_none());
        assert_eq!(g.dependents("o2").len(), 1);
    }

    #[test]
    fn object_info_needs_a_name_and_uid() {
        let mut m = ObjectMeta {
            name: Some("a".into()),
            ..Default::default()
        };
        assert!(ObjectInfo::from_meta("v1", "ConfigMap", &m).is_none());
        m.uid = Some("u".into());
        m.namespace = Some(String::new());
        let info = ObjectInfo::from_meta("v1", "ConfigMap", &m).unwrap();
        assert_eq!(info.identity.namespace, None);
        assert!(!info.deleting_dependents());
    }
}
