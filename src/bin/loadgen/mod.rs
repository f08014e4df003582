//! Parts of `tailsift-loadgen`: request templates, the raw codec, the sender, the counting
//! sink, and the /proc readings of the process under test.

pub mod codec;
pub mod procfs;
pub mod send;
pub mod sink;
pub mod template;
