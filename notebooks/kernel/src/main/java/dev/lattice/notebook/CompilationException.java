package dev.lattice.notebook;

/** A cell that does not compile: the compiler's errors, each with its cell line and a caret under the spot. */
public final class CompilationException extends Exception {

    private static final long serialVersionUID = 1L;

    public CompilationException(String message) {
        super(message);
    }
}
