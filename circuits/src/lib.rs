//! Pure proving math for the lagrange-node network.
//!
//! The circuits, their parameters and the Groth16 prove / verify / aggregate paths live
//! here, with no networking.
