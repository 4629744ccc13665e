FROM ubuntu
ARG NPM_TOKEN
ENV DB_PASSWORD=hunter2
RUN apt-get update
RUN apt-get install nodejs npm
WORKDIR /app
COPY . .
COPY package.json ./
RUN npm install
ADD config.json /etc/app/
EXPOSE 3000
CMD npm start
