package dev.lattice.data.indexed;

/** An indexed dataset whose files are missing, truncated, corrupt or inconsistent; the message names the file. */
public class InvalidDatasetException extends RuntimeException {

    public InvalidDatasetException(String message) {
        super(message);
    }

    public InvalidDatasetException(String message, Throwable cause) {
        super(message, cause);
    }
}
