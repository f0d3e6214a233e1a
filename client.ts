// Cliente
// A line-by-line port of ../shared/seed/client.c onto bsdsock's C-shaped layer (src/posix.ts).
// One addition: PORT from the environment (default 8080, like the C program).

import {
  socket, connect, send, recv, close, perror, printf, exit, htons, inet_pton, memset, strlen,
  sockaddr_in, sizeof, char, AF_INET, SOCK_STREAM, EXIT_FAILURE,
} from "./src/posix.ts";

function port_from_env(): number {
  const text = process.env.PORT;
  if (text === undefined || text === "") return 8080;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    printf("PORT debe ser un entero entre 1 y 65535: %s\n", text);
    exit(EXIT_FAILURE);
  }
  return port;
}

function main(): number {
  let sockfd: number;
  const server_addr = new sockaddr_in();
  const buffer = char(1024, "Hola, servidor!");

  sockfd = socket(AF_INET, SOCK_STREAM, 0);
  if (sockfd < 0) {
    perror("Error al crear socket");
    exit(EXIT_FAILURE);
  }

  server_addr.sin_family = AF_INET;
  server_addr.sin_port = htons(port_from_env());
  inet_pton(AF_INET, "127.0.0.1", server_addr.sin_addr);

  if (connect(sockfd, server_addr, sizeof(server_addr)) < 0) {
    perror("Error al conectar al servidor");
    close(sockfd);
    exit(EXIT_FAILURE);
  }

  send(sockfd, buffer, strlen(buffer), 0);
  memset(buffer, 0, sizeof(buffer));
  recv(sockfd, buffer, sizeof(buffer), 0);
  printf("Mensaje recibido del servidor: %s\n", buffer);

  close(sockfd);
  return 0;
}

exit(main());
