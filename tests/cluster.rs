//! Decision sharing over a real nats-server (Debian's package, started by each test on a free
//! loopback port): several tailsift instances, each trace's spans spread over them at random,
//! every trace reaching the sink whole (or not at all) with the verdict one instance holding
//! all of it would reach.

mod support;

#[path = "cluster/nats.rs"]
mod nats;
#[path = "cluster/traffic.rs"]
mod traffic;

#[path = "cluster/budget.rs"]
mod budget;
#[path = "cluster/bus_down.rs"]
mod bus_down;
#[path = "cluster/captures.rs"]
mod captures;
#[path = "cluster/whole.rs"]
mod whole;
