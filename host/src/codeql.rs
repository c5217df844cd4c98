//! The CodeQL result cache. [`key`] digests a scan's inputs (git tree, CodeQL version,
//! [`config`], category) using [`git`]; [`ingest`] validates a finished scan's [`sarif`] and puts
//! it in the [`results`] store; [`check`] finds a candidate and asks the `codeql-skip` component
//! whether the scan may be skipped; [`stats`] counts what that saved. The host computes and
//! stores; the component alone decides to skip.

pub mod check;
pub mod config;
pub mod git;
pub mod ingest;
pub mod key;
pub mod results;
pub mod sarif;
pub mod stats;
