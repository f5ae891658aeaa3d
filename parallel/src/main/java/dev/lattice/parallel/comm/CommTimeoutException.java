package dev.lattice.parallel.comm;

/**
 * A collective or point-to-point operation that did not complete in time; the message names the rank that waited,
 * the group, the operation and whom it waited for — never a silent hang.
 */
public class CommTimeoutException extends RuntimeException {

    public CommTimeoutException(String message) {
        super(message);
    }
}
