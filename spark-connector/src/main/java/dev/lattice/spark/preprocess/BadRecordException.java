package dev.lattice.spark.preprocess;

/** A malformed input record, raised when {@code --skip-bad-records} is off; the message names file and line. */
public class BadRecordException extends RuntimeException {

    public BadRecordException(String message) {
        super(message);
    }
}
