// Servidor
// A line-by-line port of ../shared/seed/server.c onto bsdsock's C-shaped layer (src/posix.ts).
// Differences from the C program, each on purpose:
//  - PORT from the environment (default 8080, like the C program); with PORT=0 the kernel
//    picks one and the banner prints the real port (read back with getsockname).
//  - the received bytes are NUL-terminated before printing; server.c prints an
//    unterminated buffer, which is undefined behaviour not worth copying.

import {
  socket, bind, listen, accept, recv, send, close, perror, printf, exit, htons, ntohs,
  getsockname, sockaddr_in, socklen_t, sizeof, char, AF_INET, SOCK_STREAM, INADDR_ANY,
  EXIT_FAILURE,
} from "./src/posix.ts";

function port_from_env(): number {
  const text = process.env.PORT;
  if (text === undefined || text === "") return 8080;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    printf("PORT debe ser un entero entre 0 y 65535: %s\n", text);
    exit(EXIT_FAILURE);
  }
  return port;
}

function main(): number {
  let sockfd: number, new_sock: number;
  const server_addr = new sockaddr_in(), client_addr = new sockaddr_in();
  const buffer = char(1024);
  const addr_len = new socklen_t();

  sockfd = socket(AF_INET, SOCK_STREAM, 0);
  if (sockfd < 0) {
    perror("Error al crear socket");
    exit(EXIT_FAILURE);
  }

  server_addr.sin_family = AF_INET;
  server_addr.sin_addr.s_addr = INADDR_ANY;
  server_addr.sin_port = htons(port_from_env());

  if (bind(sockfd, server_addr, sizeof(server_addr)) < 0) {
    perror("Error al enlazar");
    close(sockfd);
    exit(EXIT_FAILURE);
  }

  if (listen(sockfd, 5) < 0) {
    perror("Error al escuchar");
    close(sockfd);
    exit(EXIT_FAILURE);
  }

  // With PORT=0 the kernel chose the port: ask it which, so the banner tells the truth.
  const bound = new socklen_t(sizeof(server_addr));
  getsockname(sockfd, server_addr, bound);

  printf("Esperando conexiones en el puerto %d...\n", ntohs(server_addr.sin_port));
  addr_len.value = sizeof(client_addr);
  new_sock = accept(sockfd, client_addr, addr_len);
  if (new_sock < 0) {
    perror("Error al aceptar conexión");
    close(sockfd);
    exit(EXIT_FAILURE);
  }

  const n = recv(new_sock, buffer, sizeof(buffer) - 1, 0);
  buffer[n > 0 ? n : 0] = 0;
  printf("Mensaje recibido: %s\n", buffer);
  send(new_sock, "Hola, cliente!", 14, 0);

  close(new_sock);
  close(sockfd);
  return 0;
}

exit(main());
