package dev.lattice.notebook;

/**
 * An exception thrown by a cell, as JShell reports it: the original exception's class name and message, its stack
 * (frames of cell code name the cell and line) and its causes. Prints as the original would
 * ({@code java.lang.X: message}).
 */
public final class EvaluationException extends Exception {

    private static final long serialVersionUID = 1L;

    EvaluationException(String header, StackTraceElement[] stack, EvaluationException cause) {
        super(header, cause);
        setStackTrace(stack);
    }

    @Override
    public synchronized EvaluationException getCause() {
        return (EvaluationException) super.getCause();
    }

    @Override
    public String toString() {
        return getMessage();
    }
}
