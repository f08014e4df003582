//! Generated code for the formats in `proto/` (see `proto/README.md`). One module per package,
//! named as the package is: `tailsift.storage.v1` is `proto::storage::v1`.
