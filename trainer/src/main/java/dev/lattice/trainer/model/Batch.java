package dev.lattice.trainer.model;

/**
 * One micro-batch: input tokens, the tokens to predict, and a loss mask, each [batch × seq] row-major.
 */
public record Batch(int[] tokens, int[] targets, float[] lossMask, int batch, int seq) {

    public Batch {
        int n = batch * seq;
        if (tokens.length != n || targets.length != n || lossMask.length != n) {
            throw new IllegalArgumentException("batch arrays must hold " + batch + "×" + seq + " entries");
        }
    }

    /** Tokens that count in the loss. */
    public double maskedTokens() {
        double s = 0;
        for (float m : lossMask) {
            s += m;
        }
        return s;
    }
}
