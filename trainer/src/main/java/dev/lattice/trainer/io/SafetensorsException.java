package dev.lattice.trainer.io;

import java.io.IOException;

/** A safetensors file is malformed or does not hold what was asked; the message names the file and tensor. */
public class SafetensorsException extends IOException {

    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
