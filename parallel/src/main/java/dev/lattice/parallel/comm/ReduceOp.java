package dev.lattice.parallel.comm;

/** Reductions of the collectives. */
public enum ReduceOp {
    SUM, AVG, MAX
}
