//! One seeded world on madsim: sub-seeds, simulated network, node crash and restart, trace and trace hash, run limits
