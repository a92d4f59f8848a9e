//! Shared helpers of the integration tests. A test file uses them with
//! `mod common;` and then `common::lab::Lab` etc.; each test binary compiles
//! its own copy, so helpers one binary does not use are not dead code.
#![allow(dead_code)]

pub mod failpoint;
pub mod lab;
