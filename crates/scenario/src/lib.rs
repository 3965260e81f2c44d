//! The zabsim scenario format (v1): TOML schema, validation and zoo.cfg import.

pub mod model;

pub use model::*;
