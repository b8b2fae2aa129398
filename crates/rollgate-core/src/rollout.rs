//! Rollouts: plans of steps and the pure state machine that walks them.
