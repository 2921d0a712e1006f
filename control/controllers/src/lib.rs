//! The controllers that run outside the API server, as kube-controller-manager's do: each
//! watches through the client library (QUIC) and writes back through the API. So far the
//! garbage collector and the ReplicaSet and Deployment controllers.

pub mod controller;
pub mod deployment;
pub mod garbagecollector;
pub mod metadata;
pub mod replicaset;
pub mod workqueue;
