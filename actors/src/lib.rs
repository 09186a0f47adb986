pub mod journal;
pub mod kernel;
