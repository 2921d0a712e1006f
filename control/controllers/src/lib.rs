//! The controllers that run outside the API server, as kube-controller-manager's do: each
//! watches through the client library (QUIC) and writes back through the API. So far the
//! garbage collector, the ReplicaSet and Deployment controllers and the EndpointSlice
//! controller.

pub mod controller;
pub mod deployment;
pub mod endpointslice;
pub mod garbagecollector;
pub mod metadata;
pub mod replicaset;
pub mod workqueue;
