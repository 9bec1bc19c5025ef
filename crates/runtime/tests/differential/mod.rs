//! Shared pieces of the differential tests against nginx.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

pub mod generate;
pub mod nginx;
