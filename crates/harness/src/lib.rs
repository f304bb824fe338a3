//! Scenario x seeds -> run reports, in parallel; statistics over them; helpers for users' own tests
