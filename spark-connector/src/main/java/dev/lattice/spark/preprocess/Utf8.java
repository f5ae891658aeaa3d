package dev.lattice.spark.preprocess;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;

/**
 * Strict UTF-8 decoding: invalid bytes are an error with their position, never a silent U+FFFD that would
 * tokenize into different ids than the user's text.
 */
final class Utf8 {

    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);

    /** The decoded text, or throws with the byte offset (relative to {@code from}) of the first bad byte. */
    String decode(byte[] bytes, int from, int length) throws InvalidUtf8Exception {
        if (isAscii(bytes, from, length)) {
            return new String(bytes, from, length, StandardCharsets.ISO_8859_1);
        }
        ByteBuffer in = ByteBuffer.wrap(bytes, from, length);
        try {
            CharBuffer out = decoder.reset().decode(in);
            return out.toString();
        } catch (MalformedInputException e) {
            throw new InvalidUtf8Exception(in.position() - from);
        } catch (CharacterCodingException e) {
            throw new InvalidUtf8Exception(in.position() - from);
        }
    }

    private static boolean isAscii(byte[] b, int from, int length) {
        for (int i = from; i < from + length; i++) {
            if (b[i] < 0) {
                return false;
            }
        }
        return true;
    }

    static final class InvalidUtf8Exception extends Exception {
        private final long offset;

        InvalidUtf8Exception(long offset) {
            super("invalid UTF-8 at byte " + offset, null, false, false);
            this.offset = offset;
        }

        long offset() {
            return offset;
        }
    }
}
