package dev.lattice.parallel.pipeline;

/**
 * One compute step of a pipeline schedule on one rank: the forward or backward pass of one microbatch through one
 * local model chunk ({@code chunk} is always 0 without interleaving).
 */
public record PipelineStep(Kind kind, int microbatch, int chunk) {

    public enum Kind { FORWARD, BACKWARD }

    public PipelineStep {
        if (kind == null) {
            throw new IllegalArgumentException("kind must not be null");
        }
        if (microbatch < 0) {
            throw new IllegalArgumentException("microbatch must be >= 0, got " + microbatch);
        }
        if (chunk < 0) {
            throw new IllegalArgumentException("chunk must be >= 0, got " + chunk);
        }
    }

    public static PipelineStep forward(int microbatch, int chunk) {
        return new PipelineStep(Kind.FORWARD, microbatch, chunk);
    }

    public static PipelineStep backward(int microbatch, int chunk) {
        return new PipelineStep(Kind.BACKWARD, microbatch, chunk);
    }

    public boolean isForward() {
        return kind == Kind.FORWARD;
    }

    @Override
    public String toString() {
        return (kind == Kind.FORWARD ? "F" : "B") + "(mb=" + microbatch + ",c=" + chunk + ")";
    }
}
