//! Configuration loading: any text as the YAML file, with or without a Collector
//! `tail_sampling:` block. Beyond "no panic": a configuration that loads validates again, and
//! compiles into the decision engine the daemon would run (rules or `tail_sampling` policies),
//! so `tailsift check` never accepts what the daemon refuses at start.

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = tailsift::config::parse(text, "fuzz.yaml") else {
        return;
    };
    if let Err(errors) = config.validate() {
        panic!("a loaded configuration fails validation again: {errors:?}");
    }
    if let Err(e) = tailsift::server::decider(&config) {
        panic!("a loaded configuration does not compile: {e}");
    }
    let _ = config.sampling.memory_limit_bytes();
}
