//! Generated code for the formats in `proto/` (see `proto/README.md`). One module per package,
//! named as the package is: `tailsift.storage.v1` is `proto::storage::v1`.

pub mod cluster {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/tailsift.cluster.v1.rs"));
    }
}

pub mod storage {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/tailsift.storage.v1.rs"));
    }
}
