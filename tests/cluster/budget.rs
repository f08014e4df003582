//! Group budgets: placeholder module filled in with the adaptive test.
