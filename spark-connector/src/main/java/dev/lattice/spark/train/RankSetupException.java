package dev.lattice.spark.train;

/**
 * A rank could not start training for a reason a restart would meet again (the ranks disagree, an executor has no
 * CUDA, two ranks share a GPU, rank 0 could not prepare the run): the driver's restart loop gives up at once instead
 * of spending --max-restarts attempts on it. Spark carries it to the driver as text, so the driver recognises the
 * class name in the failure's messages.
 */
final class RankSetupException extends IllegalStateException {

    RankSetupException(String message) {
        super(message);
    }

    RankSetupException(String message, Throwable cause) {
        super(message, cause);
    }

    /** Whether {@code e}, or a cause, or a remote failure's text in them, is a setup failure. */
    static boolean in(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof RankSetupException || String.valueOf(t.getMessage()).contains(
                    RankSetupException.class.getSimpleName() + ":")) {
                return true;
            }
        }
        return false;
    }
}
