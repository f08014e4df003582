//! What a fresh daemon process exposes to Prometheus: HELP for every metric, the known series at
//! zero before any traffic, and a real Prometheus server scraping it. A binary of its own, since
//! "before any traffic" needs a process where no other test has sent any.

mod support;

#[path = "prometheus/scrape.rs"]
mod scrape;
