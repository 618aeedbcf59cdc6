//! Reading a deployment as the provider runs it: a 2i2c-style infrastructure
//! repository. The repository is trusted no more than a bundle is: every
//! file it names is resolved inside it, and nothing it says becomes a path
//! without passing the member-path guard.

pub mod charts;
pub mod cluster;
pub mod plan;
pub mod repo;
