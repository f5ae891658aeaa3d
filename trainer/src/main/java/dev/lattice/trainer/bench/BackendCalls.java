package dev.lattice.trainer.bench;

import dev.lattice.trainer.backend.Backend;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

/** A {@link Backend} that hands each call of the one it wraps to an {@link Around} (the profilers' common part). */
final class BackendCalls {

    private BackendCalls() {
    }

    /** What runs in place of a call; {@link Call#proceed()} runs the wrapped backend's. */
    interface Around {
        Object call(Method method, Object[] args, Call call) throws Throwable;
    }

    interface Call {
        Object proceed() throws Throwable;
    }

    static Backend wrap(Backend inner, Around around) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, method, args) -> around.call(method, args, () -> invoke(inner, method, args)));
    }

    /** Calls {@code m} on {@code inner}, rethrowing what it threw (not the reflection wrapper). */
    static Object invoke(Backend inner, Method m, Object[] args) throws Throwable {
        try {
            return m.invoke(inner, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
