// A minimal embedded Jetty 9.4 HTTPS server (Debian libjetty9-java) for the interop tests.
//
// Usage: java -cp <jetty jars>:. JettyServer KEYSTORE.p12 PASSWORD
// Listens on 127.0.0.1, an ephemeral port, prints "ready port=N jetty=VERSION" on stdout and
// answers every request with 200. The behaviour under test is Jetty's SslConnection: since
// 9.3.20 / 9.4.6 (jetty issue #523, commit d53af5d) it no longer calls
// SSLEngine.closeInbound() on server connections once the handshake is done, so a close
// without close_notify leaves the session alone (docs/tls-semantics.md 1.6).

import java.io.IOException;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.AbstractHandler;
import org.eclipse.jetty.util.Jetty;
import org.eclipse.jetty.util.ssl.SslContextFactory;

public final class JettyServer {
  public static void main(String[] args) throws Exception {
    Server server = new Server();
    SslContextFactory.Server ssl = new SslContextFactory.Server();
    ssl.setKeyStorePath(args[0]);
    ssl.setKeyStoreType("PKCS12");
    ssl.setKeyStorePassword(args[1]);
    ServerConnector connector = new ServerConnector(server, ssl);
    connector.setHost("127.0.0.1");
    connector.setPort(0);
    connector.setIdleTimeout(30_000);
    server.addConnector(connector);
    server.setHandler(new AbstractHandler() {
      @Override
      public void handle(String target, Request base, HttpServletRequest req,
          HttpServletResponse resp) throws IOException {
        resp.setStatus(200);
        resp.getWriter().print("ok\n");
        base.setHandled(true);
      }
    });
    server.start();
    System.out.println("ready port=" + connector.getLocalPort() + " jetty=" + Jetty.VERSION);
    System.out.flush();
    server.join();
  }
}
